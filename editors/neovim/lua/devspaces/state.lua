-- What the daemon has said so far (sessions, logs, traces, forwards, progress), fed only by its messages.
--
-- Pure data: no Neovim API, no decisions. `apply(method, params)` records one notification and
-- tells the listeners what changed; the view renders from here.
local State = {}
State.__index = State

local M = {}

--- A new empty store. `opts.trace_history` and `opts.log_history` bound the kept traces and log lines.
function M.new(opts)
  opts = opts or {}
  return setmetatable({
    trace_history = opts.trace_history or 200,
    log_history = opts.log_history or 5000,
    sessions = {}, -- session id -> session record
    order = {}, -- session ids, first seen first
    logs = {}, -- service name -> { first = n, last = m, [n..m] = log params }
    traces = {}, -- recent trace params, oldest first
    messages = {}, -- window/showMessage params, oldest first
    progress = {}, -- token -> { title, message, percentage, done }
    listeners = {},
  }, State)
end

--- Call `fn(change)` after every change; returns a function that unsubscribes.
function State:subscribe(fn)
  self.listeners[fn] = true
  return function()
    self.listeners[fn] = nil
  end
end

function State:_emit(change)
  for fn in pairs(self.listeners) do
    fn(change)
  end
  return change
end

function State:_session(id, service)
  local s = self.sessions[id]
  if not s then
    s = { session = id, service = service, ports = {}, synced_count = 0, dropped = 0 }
    self.sessions[id] = s
    table.insert(self.order, id)
  end
  if service then
    s.service = service
  end
  return s
end

function State:_log_store(service)
  local l = self.logs[service]
  if not l then
    l = { first = 1, last = 0 }
    self.logs[service] = l
  end
  return l
end

--- The log lines kept for a service, oldest first (each a `devspaces/log` params table, or a
--- `{ dropped = n }` marker for a `devspaces/logsDropped`).
function State:log_lines(service)
  local l = self.logs[service]
  local out = {}
  if l then
    for i = l.first, l.last do
      out[#out + 1] = l[i]
    end
  end
  return out
end

function State:_append_log(service, entry)
  local l = self:_log_store(service)
  l.last = l.last + 1
  l[l.last] = entry
  local trimmed = 0
  while l.last - l.first + 1 > self.log_history do
    l[l.first] = nil
    l.first = l.first + 1
    trimmed = trimmed + 1
  end
  return trimmed
end

--- The sessions in the order they were first seen.
function State:session_list()
  local out = {}
  for _, id in ipairs(self.order) do
    out[#out + 1] = self.sessions[id]
  end
  return out
end

--- Services that have a session or log lines, sorted by name.
function State:services()
  local seen, out = {}, {}
  for _, s in ipairs(self:session_list()) do
    if s.service and not seen[s.service] then
      seen[s.service] = true
      out[#out + 1] = s.service
    end
  end
  for name in pairs(self.logs) do
    if not seen[name] then
      seen[name] = true
      out[#out + 1] = name
    end
  end
  table.sort(out)
  return out
end

--- Record a session as a request result describes it (`up`, `status`, `watch`: a SessionInfo).
function State:apply_session(info)
  if type(info) ~= 'table' or not info.session then
    return nil
  end
  local s = self:_session(info.session, info.service)
  for _, k in ipairs({ 'path', 'space', 'backend', 'phase', 'detail', 'tag', 'startedAt', 'watchers' }) do
    if info[k] ~= nil then
      s[k] = info[k]
    end
  end
  if info.phase and info.phase ~= 'crashed' and info.phase ~= 'failed' then
    s.exit_code, s.last_lines = nil, nil
  end
  for _, pf in ipairs(info.portForwards or {}) do
    s.ports[pf.localPort] = vim.deepcopy(pf)
  end
  return self:_emit({ kind = 'session', session = s })
end

--- Record a session as an `up` result describes it. The daemon read the session when it answered,
--- and the notifications it sent before the answer arrive first: what they already said (phase,
--- forwards) is newer, so the result only fills in what is not known yet.
function State:apply_up(info)
  if type(info) ~= 'table' or not info.session then
    return nil
  end
  local known = self.sessions[info.session]
  if not known or not known.phase then
    return self:apply_session(info)
  end
  for _, k in ipairs({ 'path', 'space', 'backend', 'tag', 'startedAt', 'watchers' }) do
    if info[k] ~= nil then
      known[k] = info[k]
    end
  end
  for _, pf in ipairs(info.portForwards or {}) do
    if not known.ports[pf.localPort] then
      known.ports[pf.localPort] = vim.deepcopy(pf)
    end
  end
  return self:_emit({ kind = 'session', session = known })
end

--- The sessions that have not stopped, in the order they were first seen.
function State:live_sessions()
  return vim.tbl_filter(function(s)
    return s.phase ~= 'stopped'
  end, self:session_list())
end

--- The live sessions of the service named `name`.
function State:find_service(name)
  return vim.tbl_filter(function(s)
    return s.service == name
  end, self:live_sessions())
end

--- The recent traces of one session, newest first, at most `max`.
function State:session_traces(session, max)
  local out = {}
  for i = #self.traces, 1, -1 do
    local t = self.traces[i]
    if t.session == session then
      out[#out + 1] = t
      if max and #out >= max then
        break
      end
    end
  end
  return out
end

local handlers = {}

handlers['devspaces/log'] = function(self, p)
  local s = self:_session(p.session, p.service)
  local trimmed = self:_append_log(s.service, p)
  return { kind = 'log', session = s, service = s.service, entry = p, trimmed = trimmed }
end

handlers['devspaces/logsDropped'] = function(self, p)
  local s = self:_session(p.session, p.service)
  s.dropped = s.dropped + (p.count or 0)
  local entry = { dropped = p.count, session = p.session, service = p.service }
  local trimmed = self:_append_log(s.service, entry)
  return { kind = 'log', session = s, service = s.service, entry = entry, trimmed = trimmed }
end

handlers['devspaces/trace'] = function(self, p)
  local s = self:_session(p.session, p.service)
  table.insert(self.traces, p)
  local trimmed = 0
  while #self.traces > self.trace_history do
    table.remove(self.traces, 1)
    trimmed = trimmed + 1
  end
  return { kind = 'trace', session = s, trace = p, trimmed = trimmed }
end

handlers['devspaces/portForward'] = function(self, p)
  local s = self:_session(p.session, p.service)
  s.ports[p.localPort] = {
    localPort = p.localPort,
    remotePort = p.remotePort,
    url = p.url,
    state = p.state,
  }
  return { kind = 'portForward', session = s, port = s.ports[p.localPort] }
end

handlers['devspaces/serviceStatus'] = function(self, p)
  local s = self:_session(p.session, p.service)
  s.phase, s.detail = p.phase, p.detail
  s.exit_code, s.last_lines = p.exitCode, p.lastLines
  return { kind = 'serviceStatus', session = s, status = p }
end

handlers['devspaces/synced'] = function(self, p)
  local s = self:_session(p.session, p.service)
  s.synced_count = s.synced_count + 1
  s.last_synced = p
  return { kind = 'synced', session = s, synced = p }
end

handlers['devspaces/debugReady'] = function(self, p)
  local s = self:_session(p.session, p.service)
  s.debug = p
  return { kind = 'debugReady', session = s, ready = p }
end

handlers['window/showMessage'] = function(self, p)
  table.insert(self.messages, p)
  return { kind = 'message', message = p }
end

handlers['$/progress'] = function(self, p)
  local v = p.value or {}
  local token = tostring(p.token)
  local cur = self.progress[token] or {}
  if v.kind == 'begin' then
    cur = { title = v.title }
  end
  cur.message = v.message or cur.message
  cur.percentage = v.percentage or cur.percentage
  cur.done = v.kind == 'end'
  self.progress[token] = cur
  return { kind = 'progress', token = token, progress = cur }
end

--- The methods `apply` understands.
M.methods = vim.tbl_keys(handlers)
table.sort(M.methods)

--- Record one notification; returns the change (also given to listeners), or nil if unknown.
function State:apply(method, params)
  local h = handlers[method]
  if not h or type(params) ~= 'table' then
    return nil
  end
  return self:_emit(h(self, params))
end

return M
