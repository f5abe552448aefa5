//! The routing proxy: what the seed's devspaces-proxy did in every pod of a space.
//!
//! The post-renderer points the chart's Service at this listener (`targetPort`) instead of the
//! app, and starts the agent with `--route LISTEN:APP:SERVICE:SERVICE_PORT` and `--space`. Every
//! request the Service brings passes here, over HTTP/1.1 or HTTP/2 (gRPC, cleartext, as inside a
//! cluster), and goes to one of two places:
//!
//! - the app, on the pod's loopback at its own port (`APP`): requests without a routing header,
//!   requests in a child space, and requests for a child that does not run this service;
//! - the same service in a child space of this one, when the request's `azds-route-as` (or
//!   `kubernetes-route-as`) names a child that runs it: the child's Service
//!   `SERVICE.<child>.svc.<cluster domain>:SERVICE_PORT` (a child space's namespace is the child's
//!   name, as in Dev Spaces), whose own routing proxy then serves it locally.
//!
//! Whether a child runs the service is asked of the cluster's DNS (the Service's name resolves or
//! not), remembered for [`CHILD_TTL`]: `up` in a child is routed to within that time, and so is
//! its `down` (back to the parent). A child that does not run the service still has its name, as
//! the stand-in (an `ExternalName`) through which the child's apps reach the parent's Service:
//! that resolves to this space's own Service address and is served here. The services only have
//! to pass the header on in the calls they make, as the reference app does.
//!
//! Every request is a trace (method, path, status, time to the answer's head, the peer, and the
//! space that served it), sent to the session on the agent's event stream. Each is one hop of its
//! request (`protocol::trace_context`): it continues the trace the request's `traceparent` names, or
//! starts one, and the request goes on with this hop's span as its parent, so the traces of one
//! request through several services share a trace id when the services pass the header on.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use devspaces_protocol::trace_context::{self, TraceLink};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response, StatusCode, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// The headers that name the space a request is for, as Dev Spaces and Bridge to Kubernetes set them.
pub const ROUTE_HEADERS: [&str; 2] = ["azds-route-as", "kubernetes-route-as"];
/// How long whether a child runs the service is remembered.
pub const CHILD_TTL: Duration = Duration::from_secs(2);

/// One `--route`: where the Service's traffic arrives and where the app listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteSpec {
    pub listen: u16,
    pub app: u16,
    /// The Service's name (the same in every space) and its port.
    pub service: String,
    pub service_port: u16,
}

/// `LISTEN:APP:SERVICE:SERVICE_PORT`, e.g. `50080:8080:api:80`.
pub fn parse(s: &str) -> Result<RouteSpec, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let [listen, app, service, service_port] = parts.as_slice() else {
        return Err(format!("'{s}' is not LISTEN:APP:SERVICE:SERVICE_PORT"));
    };
    let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| format!("'{p}' is not a port"));
    let valid = !service.is_empty()
        && service.len() <= 63
        && service.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!("'{service}' is not a Service name"));
    }
    Ok(RouteSpec {
        listen: port(listen)?,
        app: port(app)?,
        service: service.to_string(),
        service_port: port(service_port)?,
    })
}

/// Where a request goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local,
    /// The child space of this name (its namespace).
    Child(String),
}

/// The child a request names, if this pod's space is a root space and the header names another
/// (DNS-1123) space: `alice`, or `dev/alice` when this is `dev`.
pub fn named_child(space: &str, header: Option<&str>) -> Option<String> {
    if space.contains('/') {
        // A child's instance serves what reaches it.
        return None;
    }
    let h = header?.trim().to_ascii_lowercase();
    let child = match h.split_once('/') {
        Some((parent, child)) if parent == space => child.to_string(),
        Some(_) => return None,
        None => h,
    };
    let valid = !child.is_empty()
        && child.len() <= 63
        && child.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !child.starts_with('-')
        && !child.ends_with('-');
    (valid && child != space).then_some(child)
}

/// The child an ingress host names, as Dev Spaces formed them: `alice.s.dev.web.<suffix>` (the
/// `$(spacePrefix)` `alice.s.` before the root space and the service) names alice.
pub fn child_from_host(host: Option<&str>) -> Option<&str> {
    let host = host?;
    let mut labels = host.split('.');
    let (first, second) = (labels.next()?, labels.next()?);
    (second == "s" && labels.next().is_some()).then_some(first)
}

/// What a routing proxy reports of each request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub micros: u64,
    /// The answer's `Content-Length` (0 when it streams without one).
    pub bytes: u64,
    pub peer: String,
    /// The space that served it (`dev`, or `dev/alice` when sent to alice's instance).
    pub served_by: String,
    pub service: String,
    /// The routing header's value, when there was one.
    pub route_as: Option<String>,
    /// The request's trace and this hop's span (the request went on with it as `traceparent`).
    pub link: TraceLink,
}

type Body = BoxBody<Bytes, hyper::Error>;

/// Finds a Service's address by its DNS name (`host.:port`); the cluster's DNS in a pod.
pub type Resolver = Arc<
    dyn Fn(String) -> std::pin::Pin<Box<dyn std::future::Future<Output = Option<SocketAddr>> + Send>> + Send + Sync,
>;

/// The system's resolver (the pod's, which asks the cluster's DNS).
pub fn system_resolver() -> Resolver {
    Arc::new(|name: String| {
        Box::pin(async move { tokio::net::lookup_host(name).await.ok().and_then(|mut a| a.next()) })
    })
}

struct Proxy {
    spec: RouteSpec,
    space: String,
    cluster_domain: String,
    resolve: Resolver,
    http1: Client<HttpConnector, Incoming>,
    http2: Client<HttpConnector, Incoming>,
    children: Mutex<HashMap<String, (Instant, Option<SocketAddr>)>>,
    traces: tokio::sync::mpsc::UnboundedSender<Trace>,
}

/// Starts a routing proxy on every interface of the pod; traces go to `traces`.
pub async fn start(
    spec: RouteSpec,
    space: String,
    cluster_domain: String,
    resolve: Resolver,
    traces: tokio::sync::mpsc::UnboundedSender<Trace>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::UNSPECIFIED, spec.listen)).await?;
    let addr = listener.local_addr()?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let http1 = Client::builder(TokioExecutor::new()).build(connector.clone());
    let http2 = Client::builder(TokioExecutor::new()).http2_only(true).build(connector);
    let children = Mutex::new(HashMap::new());
    let proxy = Arc::new(Proxy { spec, space, cluster_domain, resolve, http1, http2, children, traces });
    tokio::spawn(async move {
        loop {
            let Ok((stream, peer)) = listener.accept().await else { continue };
            let _ = stream.set_nodelay(true);
            let proxy = proxy.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let proxy = proxy.clone();
                    async move { Ok::<_, Infallible>(proxy.handle(req, peer).await) }
                });
                let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}

impl Proxy {
    /// The address of this service's Service in `namespace`, from the cluster's DNS (remembered
    /// for [`CHILD_TTL`]).
    async fn service_in(&self, namespace: &str) -> Option<SocketAddr> {
        if let Some((at, found)) = self.children.lock().ok()?.get(namespace).copied() {
            if at.elapsed() < CHILD_TTL {
                return found;
            }
        }
        // The trailing dot: no search-list expansion, one query.
        let name = format!("{}.{namespace}.svc.{}.:{}", self.spec.service, self.cluster_domain, self.spec.service_port);
        let found = (self.resolve)(name).await;
        if let Ok(mut c) = self.children.lock() {
            c.insert(namespace.to_string(), (Instant::now(), found));
        }
        found
    }

    /// Whether `child` runs this service: its Service's address. A child that does not run it may
    /// still have the name, as the stand-in that points at this space's Service (an ExternalName,
    /// so its apps reach the parent's services by name): that resolves to this Service's own
    /// address, and is served here (sending it there would come straight back).
    async fn child_service(&self, child: &str) -> Option<SocketAddr> {
        let found = self.service_in(child).await?;
        let own = self.service_in(&self.space).await;
        (own != Some(found)).then_some(found)
    }

    async fn handle(&self, mut req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let started = Instant::now();
        let host = req.headers().get(hyper::header::HOST).and_then(|v| v.to_str().ok()).or(req.uri().host());
        let header = ROUTE_HEADERS
            .iter()
            .find_map(|h| req.headers().get(*h))
            .and_then(|v| v.to_str().ok())
            .or_else(|| child_from_host(host));
        let route_as = header.map(str::to_string);
        let child = named_child(&self.space, header);
        let sent = req.headers().get(trace_context::HEADER).and_then(|v| v.to_str().ok());
        let (link, flags) = TraceLink::continue_from(sent);
        if let Ok(v) = HeaderValue::from_str(&link.header(flags)) {
            req.headers_mut().insert(trace_context::HEADER, v);
        }
        let (target, served_by) = match child {
            Some(c) => match self.child_service(&c).await {
                Some(addr) => (addr, format!("{}/{c}", self.space)),
                None => (SocketAddr::from((Ipv4Addr::LOCALHOST, self.spec.app)), self.space.clone()),
            },
            None => (SocketAddr::from((Ipv4Addr::LOCALHOST, self.spec.app)), self.space.clone()),
        };
        let method = req.method().to_string();
        let path = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
        let uri = format!("http://{target}{path}");
        let version = req.version();
        let upgrade = hyper::upgrade::on(&mut req);
        let wants_upgrade = req.headers().contains_key(hyper::header::UPGRADE);
        *req.uri_mut() = match uri.parse() {
            Ok(u) => u,
            Err(e) => return self.answer(StatusCode::BAD_REQUEST, format!("bad request target: {e}")),
        };
        if version == Version::HTTP_2 {
            // An HTTP/2 request has no Host header; the authority goes on as one for HTTP/1.1 apps.
            req.headers_mut().remove(hyper::header::HOST);
        } else {
            strip_hop_by_hop(req.headers_mut(), wants_upgrade);
        }
        let client = if version == Version::HTTP_2 { &self.http2 } else { &self.http1 };
        let result = client.request(req).await;
        let mut resp = match result {
            Ok(r) => r,
            Err(e) => {
                let resp = self.answer(
                    StatusCode::BAD_GATEWAY,
                    format!("devspaces routing: {} in space '{served_by}' did not answer: {e}", self.spec.service),
                );
                self.trace(&method, &path, (502, 0), started, peer, &served_by, (route_as, link));
                return resp;
            }
        };
        let bytes =
            resp.headers().get(hyper::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse().ok()).unwrap_or(0);
        self.trace(&method, &path, (resp.status().as_u16(), bytes), started, peer, &served_by, (route_as, link));
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let theirs = hyper::upgrade::on(&mut resp);
            tokio::spawn(async move {
                if let (Ok(ours), Ok(theirs)) = (upgrade.await, theirs.await) {
                    let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(ours), &mut TokioIo::new(theirs)).await;
                }
            });
        }
        resp.map(|b| b.boxed())
    }

    fn answer(&self, status: StatusCode, msg: String) -> Response<Body> {
        let mut r = Response::new(Full::new(Bytes::from(msg + "\n")).map_err(|never| match never {}).boxed());
        *r.status_mut() = status;
        r.headers_mut().insert(hyper::header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn trace(
        &self,
        method: &str,
        path: &str,
        (status, bytes): (u16, u64),
        started: Instant,
        peer: SocketAddr,
        served_by: &str,
        (route_as, link): (Option<String>, TraceLink),
    ) {
        let _ = self.traces.send(Trace {
            method: method.to_string(),
            path: path.to_string(),
            status,
            micros: started.elapsed().as_micros() as u64,
            bytes,
            peer: peer.ip().to_string(),
            served_by: served_by.to_string(),
            service: self.spec.service.clone(),
            route_as,
            link,
        });
    }
}

/// Connection-level headers stay on their hop (an upgrade's own two are kept).
fn strip_hop_by_hop(h: &mut hyper::HeaderMap, upgrade: bool) {
    let listed: Vec<HeaderName> = h
        .get_all(hyper::header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .filter(|n| !(upgrade && *n == hyper::header::UPGRADE))
        .collect();
    for n in listed {
        h.remove(n);
    }
    for n in ["keep-alive", "proxy-connection", "te", "trailer"] {
        h.remove(n);
    }
    if !upgrade {
        h.remove(hyper::header::CONNECTION);
        h.remove(hyper::header::UPGRADE);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn routes_are_four_parts() {
        assert_eq!(
            parse("50080:8080:api:80"),
            Ok(RouteSpec { listen: 50080, app: 8080, service: "api".into(), service_port: 80 })
        );
        assert!(parse("50080:8080:api").is_err());
        assert!(parse("50080:8080:Api:80").unwrap_err().contains("not a Service name"));
        assert!(parse("0:8080:api:80").is_err());
    }

    #[test]
    fn only_a_root_space_sends_requests_to_a_child() {
        assert_eq!(named_child("dev", Some("alice")), Some("alice".into()));
        assert_eq!(named_child("dev", Some(" Alice ")), Some("alice".into()));
        assert_eq!(named_child("dev", Some("dev/alice")), Some("alice".into()));
        // Another root's child, the space itself, nothing, or not a namespace name: served here.
        assert_eq!(named_child("dev", Some("test/alice")), None);
        assert_eq!(named_child("dev", Some("dev")), None);
        assert_eq!(named_child("dev", None), None);
        assert_eq!(named_child("dev", Some("al ice")), None);
        assert_eq!(named_child("dev", Some("-x")), None);
        assert_eq!(named_child("dev", Some(&"a".repeat(64))), None);
        // A child's instance serves whatever reaches it.
        assert_eq!(named_child("dev/alice", Some("alice")), None);
    }

    #[test]
    fn a_childs_ingress_host_names_it() {
        assert_eq!(child_from_host(Some("alice.s.dev.web.1a2b.eus.azds.io")), Some("alice"));
        assert_eq!(child_from_host(Some("dev.web.1a2b.eus.azds.io")), None);
        assert_eq!(child_from_host(Some("alice.s")), None);
        assert_eq!(child_from_host(Some("localhost:8080")), None);
        assert_eq!(child_from_host(None), None);
    }

    /// An HTTP/1.1 app on loopback that answers with the path and the route header it saw (and the
    /// `traceparent` it got, as the header `seen-traceparent`).
    async fn app() -> (u16, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(|req: Request<Incoming>| async move {
                        let route = req.headers().get("azds-route-as").map(|v| v.to_str().unwrap().to_string());
                        let body = format!("{} route={route:?}", req.uri().path());
                        let mut resp = Response::new(Full::new(Bytes::from(body)));
                        if let Some(tp) = req.headers().get(trace_context::HEADER) {
                            resp.headers_mut().insert("seen-traceparent", tp.clone());
                        }
                        Ok::<_, Infallible>(resp)
                    });
                    let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
                });
            }
        });
        (port, task)
    }

    async fn get(port: u16, path: &str, header: Option<&str>) -> String {
        let h = header.map(|h| format!("azds-route-as: {h}\r\n")).unwrap_or_default();
        get_with(port, path, &h).await
    }

    /// A GET with `headers` (each line ending in CRLF) added.
    async fn get_with(port: u16, path: &str, h: &str) -> String {
        let mut s = tokio::net::TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.unwrap();
        s.write_all(format!("GET {path} HTTP/1.1\r\nHost: api\r\n{h}Connection: close\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).await.unwrap();
        out
    }

    /// A cluster whose DNS knows the Services in `known`.
    fn dns(known: Vec<(&str, SocketAddr)>) -> Resolver {
        let known: HashMap<String, SocketAddr> = known.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        Arc::new(move |name: String| {
            let found = known.get(&name).copied();
            Box::pin(async move { found })
        })
    }

    #[tokio::test]
    async fn requests_go_to_the_app_or_to_the_child_that_runs_the_service_and_are_traced() {
        let (parent_app, parent) = app().await;
        let (child_app, child) = app().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // alice runs `api` (her Service resolves); bob does not.
        let alice = SocketAddr::from((Ipv4Addr::LOCALHOST, child_app));
        let resolve = dns(vec![("api.alice.svc.cluster.local.:80", alice)]);
        let spec = RouteSpec { listen: 0, app: parent_app, service: "api".into(), service_port: 80 };
        let addr = start(spec, "dev".into(), "cluster.local".into(), resolve, tx).await.unwrap();
        let (parent_says, alice_says) = ("/items route=None", "/ route=Some(\"alice\")");

        let got = get(addr.port(), "/items?x=1", None).await;
        assert!(got.starts_with("HTTP/1.1 200") && got.ends_with(parent_says), "{got}");
        let t = rx.recv().await.unwrap();
        assert_eq!((t.method.as_str(), t.path.as_str(), t.status), ("GET", "/items?x=1", 200));
        assert_eq!((t.served_by.as_str(), t.service.as_str(), t.route_as), ("dev", "api", None));

        // To alice's instance, header and all (so her app passes it on).
        let got = get(addr.port(), "/", Some("alice")).await;
        assert!(got.ends_with(alice_says), "{got}");
        let t = rx.recv().await.unwrap();
        assert_eq!((t.served_by.as_str(), t.route_as.as_deref()), ("dev/alice", Some("alice")));

        // bob runs no `api`: the parent's app serves him.
        let got = get(addr.port(), "/", Some("bob")).await;
        assert!(got.ends_with("/ route=Some(\"bob\")"), "{got}");
        assert_eq!(rx.recv().await.unwrap().served_by, "dev");
        parent.abort();
        child.abort();
    }

    #[tokio::test]
    async fn a_childs_stand_in_for_the_parents_service_is_served_here() {
        let (parent_app, parent) = app().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // carol runs no `api`: her namespace's `api` is the ExternalName pointing at dev's, so
        // both names resolve to dev's Service address.
        let devs = SocketAddr::from(([10, 96, 0, 7], 80));
        let resolve = dns(vec![("api.dev.svc.cluster.local.:80", devs), ("api.carol.svc.cluster.local.:80", devs)]);
        let spec = RouteSpec { listen: 0, app: parent_app, service: "api".into(), service_port: 80 };
        let addr = start(spec, "dev".into(), "cluster.local".into(), resolve, tx).await.unwrap();
        let got = get(addr.port(), "/", Some("carol")).await;
        assert!(got.starts_with("HTTP/1.1 200") && got.ends_with("/ route=Some(\"carol\")"), "{got}");
        let t = rx.recv().await.unwrap();
        assert_eq!((t.served_by.as_str(), t.route_as.as_deref()), ("dev", Some("carol")));
        parent.abort();
    }

    /// The `seen-traceparent` the test app answered with.
    fn seen(got: &str) -> String {
        let line = got.lines().find(|l| l.to_ascii_lowercase().starts_with("seen-traceparent:")).unwrap();
        line.split_once(':').unwrap().1.trim().to_string()
    }

    #[tokio::test]
    async fn each_hop_continues_the_requests_trace_and_passes_its_own_span_on() {
        // dev's proxy sends alice's requests to alice's own proxy, in front of her app.
        let (parent_app, parent) = app().await;
        let (child_app, child) = app().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = RouteSpec { listen: 0, app: child_app, service: "api".into(), service_port: 80 };
        let alice = start(spec, "dev/alice".into(), "cluster.local".into(), dns(vec![]), tx.clone()).await.unwrap();
        let resolve = dns(vec![("api.alice.svc.cluster.local.:80", alice)]);
        let spec = RouteSpec { listen: 0, app: parent_app, service: "api".into(), service_port: 80 };
        let dev = start(spec, "dev".into(), "cluster.local".into(), resolve, tx).await.unwrap();

        // No traceparent: a new trace, and the app gets this hop as the parent of what it calls.
        let got = get(dev.port(), "/", None).await;
        let t = rx.recv().await.unwrap();
        assert_eq!(t.link.parent_id, None);
        assert_eq!(seen(&got), format!("00-{}-{}-01", t.link.trace_id, t.link.span_id));

        // A caller's traceparent (what the calling service passed on): its trace continues, through
        // both proxies, each hop the child of the one before.
        let sent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let got = get_with(dev.port(), "/", &format!("azds-route-as: alice\r\ntraceparent: {sent}\r\n")).await;
        // The inner hop answers first.
        let (at_alice, at_dev) = (rx.recv().await.unwrap(), rx.recv().await.unwrap());
        assert_eq!((at_dev.served_by.as_str(), at_alice.served_by.as_str()), ("dev/alice", "dev/alice"));
        assert_eq!(at_dev.link.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(at_alice.link.trace_id, at_dev.link.trace_id);
        assert_eq!(at_dev.link.parent_id.as_deref(), Some("00f067aa0ba902b7"));
        assert_eq!(at_alice.link.parent_id.as_ref(), Some(&at_dev.link.span_id));
        assert_eq!(seen(&got), format!("00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01", at_alice.link.span_id));
        parent.abort();
        child.abort();
    }

    /// A minimal gRPC server over h2c: answers every call with the message it got back, its route
    /// header in `grpc-message` and `grpc-status: 0`, both as trailers (gRPC's status is a trailer).
    async fn grpc_app(name: &'static str) -> (u16, tokio::task::JoinHandle<()>) {
        let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
        let port = l.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            loop {
                let (s, _) = l.accept().await.unwrap();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| async move {
                        assert_eq!(req.version(), Version::HTTP_2);
                        let route = req.headers().get("azds-route-as").map(|v| v.to_str().unwrap().to_string());
                        let message = req.into_body().collect().await.unwrap().to_bytes();
                        let mut trailers = hyper::HeaderMap::new();
                        trailers.insert("grpc-status", HeaderValue::from_static("0"));
                        let said = format!("{name} route={}", route.unwrap_or_default());
                        trailers.insert("grpc-message", HeaderValue::from_str(&said).unwrap());
                        let body = Full::new(message).with_trailers(async move { Some(Ok(trailers)) });
                        let mut resp = Response::new(body);
                        resp.headers_mut().insert("content-type", HeaderValue::from_static("application/grpc"));
                        Ok::<_, Infallible>(resp)
                    });
                    let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        (port, task)
    }

    #[tokio::test]
    async fn grpc_over_h2c_is_routed_with_its_trailers() {
        let (parent_app, parent) = grpc_app("parent").await;
        let (child_app, child) = grpc_app("alice").await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let alice = SocketAddr::from((Ipv4Addr::LOCALHOST, child_app));
        let resolve = dns(vec![("greeter.alice.svc.cluster.local.:50051", alice)]);
        let spec = RouteSpec { listen: 0, app: parent_app, service: "greeter".into(), service_port: 50051 };
        let addr = start(spec, "dev".into(), "cluster.local".into(), resolve, tx).await.unwrap();
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).http2_only(true).build(HttpConnector::new());
        // A gRPC message: uncompressed flag, 4-byte length, 5 bytes of protobuf.
        let message = Bytes::from_static(b"\x00\x00\x00\x00\x05\x0a\x03ana");
        for (route, from) in [(None, "parent route="), (Some("alice"), "alice route=alice")] {
            let mut req = Request::post(format!("http://{addr}/helloworld.Greeter/SayHello"))
                .header("content-type", "application/grpc")
                .header("te", "trailers");
            if let Some(r) = route {
                req = req.header("azds-route-as", r);
            }
            let resp = client.request(req.body(Full::new(message.clone())).unwrap()).await.unwrap();
            assert_eq!((resp.version(), resp.status()), (Version::HTTP_2, StatusCode::OK));
            let got = resp.into_body().collect().await.unwrap();
            let trailers = got.trailers().cloned().expect("the trailers came through");
            assert_eq!(trailers.get("grpc-status").unwrap(), "0");
            assert_eq!(trailers.get("grpc-message").unwrap(), from);
            assert_eq!(got.to_bytes(), message);
            let t = rx.recv().await.unwrap();
            assert_eq!((t.method.as_str(), t.path.as_str(), t.status), ("POST", "/helloworld.Greeter/SayHello", 200));
            let served_by = if route.is_some() { "dev/alice" } else { "dev" };
            assert_eq!((t.served_by.as_str(), t.route_as.as_deref()), (served_by, route));
        }
        parent.abort();
        child.abort();
    }

    #[tokio::test]
    async fn an_app_that_does_not_answer_is_a_502_that_names_it() {
        let closed = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let spec = RouteSpec { listen: 0, app: closed, service: "api".into(), service_port: 80 };
        let addr = start(spec, "dev".into(), "cluster.local".into(), dns(vec![]), tx).await.unwrap();
        let got = get(addr.port(), "/", None).await;
        assert!(got.starts_with("HTTP/1.1 502"), "{got}");
        assert!(got.contains("api in space 'dev' did not answer"), "{got}");
        assert_eq!(rx.recv().await.unwrap().status, 502);
    }
}
