-- End to end on the real devspacesd --stdio: python-web (up, logs, save, trace, down), then three services with one up.
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')
local ds = require('devspaces')

local daemon = vim.env.DEVSPACESD or vim.fs.joinpath(H.repo, 'target', 'debug', 'devspacesd')
local tmp = assert(vim.uv.fs_mkdtemp(vim.fs.joinpath(vim.uv.os_tmpdir(), 'devspaces-nvim-e2e-XXXXXX')))
local svc = vim.fs.joinpath(tmp, 'python-web')
local BOOT_MS = tonumber(vim.env.DEVSPACES_E2E_TIMEOUT_MS) or 60000
local STEP_MS = 20000

vim.fn.system({ 'cp', '-R', vim.fs.joinpath(H.repo, 'examples', 'python-web'), svc })
svc = vim.uv.fs_realpath(svc)
-- isolate the daemon: its own state dir (socket, spaces) and temp dir (synclogs)
vim.env.DEVSPACES_STATE_DIR = vim.fs.joinpath(tmp, 'state')
vim.env.TMPDIR = tmp

local notes, restore = H.capture_notify()
local mark = 0 -- errors before this index were reported by an earlier case

-- What the LSP client logged of the daemon's stderr, for failure messages.
local function daemon_stderr()
  local out = {}
  for _, l in ipairs(vim.fn.filereadable(vim.lsp.get_log_path()) == 1 and vim.fn.readfile(vim.lsp.get_log_path()) or {}) do
    if l:find('stderr', 1, true) and l:find(daemon, 1, true) then
      out[#out + 1] = l
    end
  end
  return table.concat(vim.list_slice(out, math.max(1, #out - 4)), '\n')
end

local function errors()
  local out = {}
  for i = mark + 1, #notes do
    local n = notes[i]
    if n.level == vim.log.levels.ERROR then
      out[#out + 1] = n.msg
    end
  end
  return out
end

-- Wait for cond, failing at once with the plugin's error notifications when there are any.
local function wait(ms, cond, what)
  local ok = vim.wait(ms, function()
    return cond() or #errors() > 0
  end, 50)
  if #errors() > 0 then
    local msg = string.format('while waiting for %s: %s', what, table.concat(errors(), ' | '))
    mark = #notes
    local stderr = daemon_stderr()
    error(stderr ~= '' and (msg .. '\ndaemon stderr (from ' .. vim.lsp.get_log_path() .. '):\n' .. stderr) or msg, 2)
  end
  if not ok then
    error(string.format('timed out after %d ms waiting for %s (statusline: %q)', ms, what, ds.statusline()), 2)
  end
end

local function session()
  return ds.state():session_list()[1]
end

-- The session, or a clear failure when :DevSpacesUp did not get one.
local function need_session()
  return H.ok(session(), 'no session: :DevSpacesUp did not succeed (see the case above)')
end

local function open_port()
  for _, pf in pairs(session() and session().ports or {}) do
    if pf.state == 'open' then
      return pf
    end
  end
end

local function http_get(url)
  local res = vim.system({ 'curl', '-sS', '--max-time', '10', '-w', '\n%{http_code}', url }, { text = true }):wait()
  local body, code = (res.stdout or ''):match('^(.*)\n(%d+)$')
  return tonumber(code), body or '', res.stderr
end

ds.setup({ daemon_path = daemon, backend = 'local', auto_open_logs = true })

H.test('the real daemon is there and checkhealth reports it OK', function()
  H.ok(vim.fn.executable(daemon) == 1, string.format("no devspacesd at '%s': run 'cargo build -p devspacesd' or set $DEVSPACESD", daemon))
  vim.cmd('silent checkhealth devspaces')
  local out = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  vim.cmd('bwipeout!')
  H.ok(out:find('OK ' .. vim.fn.exepath(daemon) .. ': devspacesd', 1, true), out)
end)

H.test(':DevSpacesUp starts python-web and its logs buffer fills', function()
  vim.cmd.edit(vim.fs.joinpath(svc, 'static', 'index.html'))
  local src = vim.api.nvim_get_current_buf()
  vim.cmd('DevSpacesUp')
  wait(BOOT_MS, function()
    return session() and session().phase == 'running' and open_port() ~= nil
  end, 'phase running with an open port forward')
  local logs = vim.fn.bufnr('devspaces://logs/python-web')
  H.ok(logs ~= -1, 'auto_open_logs opened the logs buffer')
  wait(STEP_MS, function()
    local lines = vim.api.nvim_buf_get_lines(logs, 0, -1, false)
    return #lines > 1 or (lines[1] or '') ~= ''
  end, 'log lines in the logs buffer')
  vim.api.nvim_set_current_buf(src)
end)

H.test('a request to the forwarded URL adds a trace', function()
  need_session()
  local url = H.ok(open_port(), 'no open port forward').url
  local code, _, err = http_get(url .. '/healthz')
  H.eq(200, code, 'GET /healthz (' .. tostring(err) .. ')')
  wait(STEP_MS, function()
    return vim.iter(ds.state().traces):any(function(t)
      return t.path == '/healthz' and t.status == 200
    end)
  end, 'a trace of GET /healthz')
  vim.cmd('DevSpacesTraces')
  H.ok(vim.iter(vim.api.nvim_buf_get_lines(0, 0, -1, false)):any(function(l)
    return l:find('python-web GET /healthz 200', 1, true)
  end), 'the traces buffer lists it')
  vim.cmd('close')
end)

H.test('saving static/index.html from Neovim gives a synced event and the app serves the edit', function()
  local marker = 'edited-from-neovim-' .. vim.uv.hrtime()
  local before = need_session().synced_count
  local buf = vim.fn.bufnr(vim.fs.joinpath(svc, 'static', 'index.html'))
  vim.api.nvim_set_current_buf(buf)
  vim.api.nvim_buf_set_lines(buf, -1, -1, false, { '<!-- ' .. marker .. ' -->' })
  vim.cmd('write')
  wait(STEP_MS, function()
    return session().synced_count > before
  end, 'devspaces/synced')
  local synced = session().last_synced
  H.ok(vim.tbl_contains(synced.files, 'static/index.html'), vim.inspect(synced))
  H.eq('static-sync', synced.class, 'class')
  local code, body = http_get(open_port().url .. '/')
  H.eq(200, code, 'GET /')
  H.ok(body:find(marker, 1, true), 'the page has the edit')
end)

H.test(':DevSpacesClassify on the real daemon', function()
  local result
  ds.classify(vim.fs.joinpath(svc, 'static', 'index.html'), function(_, r)
    result = r or false
  end)
  wait(STEP_MS, function()
    return result ~= nil
  end, 'classify result')
  H.eq('static-sync', result.results[1].class, vim.inspect(result))
  H.eq('static/index.html', result.results[1].path, 'relative path')
end)

H.test(':DevSpacesDown ends the session', function()
  need_session()
  local url = H.ok(open_port(), 'no open port forward').url
  local down
  vim.api.nvim_create_autocmd('User', { pattern = 'DevSpacesDown', once = true, callback = function(ev) down = ev.data end })
  vim.cmd('DevSpacesDown')
  wait(STEP_MS, function()
    return down ~= nil
  end, 'the down result')
  H.eq('stopped', down.outcome, 'outcome')
  local status
  require('devspaces.client').any():request('devspaces/status', vim.empty_dict(), function(err, r)
    status = r or { error = err }
  end)
  wait(STEP_MS, function()
    return status ~= nil
  end, 'devspaces/status')
  H.eq({}, vim.tbl_filter(function(s) return s.path == svc end, status.sessions or { 'error' }), 'no session left for the service')
  local code = http_get(url .. '/healthz')
  H.ok(code ~= 200, 'the app no longer answers on ' .. url)
end)

-- Three services in one folder, each written by `devspacesd prep`: one :DevSpacesUp starts them all.
local shop = vim.fs.joinpath(tmp, 'shop')
local NAMES = { 'api', 'data', 'web' }

-- A stdlib HTTP server that answers every GET with its service's name (PORT comes from devspaces).
local function app_source(name)
  return {
    'import http.server, os',
    '',
    'class H(http.server.BaseHTTPRequestHandler):',
    '    def do_GET(self):',
    '        body = b"' .. name .. '"',
    '        self.send_response(200)',
    '        self.send_header("Content-Length", str(len(body)))',
    '        self.end_headers()',
    '        self.wfile.write(body)',
    '',
    'print("' .. name .. ' listening on", os.environ["PORT"], flush=True)',
    'http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()',
  }
end

local function shop_session(name)
  return vim.iter(ds.state():find_service(name)):find(function(s)
    return s.path == vim.fs.joinpath(shop, name)
  end)
end

local function open_port_of(s)
  for _, pf in pairs(s and s.ports or {}) do
    if pf.state == 'open' then
      return pf
    end
  end
end

local function status_text()
  local buf = vim.fn.bufnr('devspaces://status')
  return buf == -1 and '' or table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '\n')
end

H.test('devspacesd prep writes three services in one folder', function()
  for _, name in ipairs(NAMES) do
    local dir = vim.fs.joinpath(shop, name)
    vim.fn.mkdir(dir, 'p')
    vim.fn.writefile(app_source(name), vim.fs.joinpath(dir, 'app.py'))
    vim.fn.writefile({}, vim.fs.joinpath(dir, 'requirements.txt'))
    local res = vim.system({ daemon, 'prep', dir }, { text = true }):wait()
    H.eq(0, res.code, 'prep ' .. name .. ': ' .. tostring(res.stderr))
    H.ok(vim.uv.fs_stat(vim.fs.joinpath(dir, 'azds.yaml')), 'azds.yaml in ' .. dir)
  end
  shop = vim.uv.fs_realpath(shop)
end)

H.test(':DevSpacesUp in the folder sends one devspaces/up; the status view shows three services running with their URLs', function()
  local ups = {}
  local au = vim.api.nvim_create_autocmd('LspRequest', {
    callback = function(ev)
      local r = ev.data.request
      if r and r.type == 'pending' and r.method == 'devspaces/up' then
        ups[#ups + 1] = ev.data
      end
    end,
  })
  vim.cmd.cd(vim.fn.fnameescape(shop))
  vim.cmd('enew')
  vim.cmd('DevSpacesUp')
  local ok, err = pcall(wait, 2 * BOOT_MS, function()
    return vim.iter(NAMES):all(function(name)
      local s = shop_session(name)
      return s and s.phase == 'running' and open_port_of(s) ~= nil
    end)
  end, 'three services running, each with an open port forward')
  vim.api.nvim_del_autocmd(au)
  H.ok(ok, err)
  H.eq(1, #ups, 'devspaces/up requests')
  H.eq(shop, vim.lsp.get_client_by_id(ups[1].client_id).root_dir, 'the up went through a client on the folder')
  -- auto_open_logs opens the status view after an up of several services.
  local text = status_text()
  local urls = {}
  for _, name in ipairs(NAMES) do
    local url = open_port_of(shop_session(name)).url
    H.ok(url:match('^http://localhost:%d+$'), url)
    urls[url] = true
    H.ok(text:find('\n' .. name .. '  running', 1, true), text)
    H.ok(text:find('\n  ' .. url .. ' -> ', 1, true), text)
  end
  H.eq(3, vim.tbl_count(urls), 'three URLs')
end)

H.test('each URL serves its own service and the request shows under it in the status view', function()
  for _, name in ipairs(NAMES) do
    local code, body, err = http_get(H.ok(open_port_of(shop_session(name)), 'no open forward for ' .. name).url .. '/hello-' .. name)
    H.eq(200, code, 'GET ' .. name .. ' (' .. tostring(err) .. ')')
    H.eq(name, body, 'body of ' .. name)
  end
  wait(STEP_MS, function()
    local blocks = vim.split(status_text(), '\n\n', { plain = true })
    return vim.iter(NAMES):all(function(name)
      return vim.iter(blocks):any(function(b)
        return vim.startswith(b, name .. '  running') and b:find('\n  GET /hello-' .. name .. ' 200 ', 1, true) ~= nil
      end)
    end)
  end, 'a request under each service in the status view')
end)

H.test(':DevSpacesDown! stops every service', function()
  vim.cmd('DevSpacesDown!')
  wait(STEP_MS, function()
    return vim.iter(NAMES):all(function(name)
      return shop_session(name) == nil
    end)
  end, 'the three services stopped')
  local status
  require('devspaces.client').any():request('devspaces/status', vim.empty_dict(), function(e, r)
    status = r or { error = e }
  end)
  wait(STEP_MS, function()
    return status ~= nil
  end, 'devspaces/status')
  H.eq({}, status.sessions or { 'error' }, 'no session left')
end)

restore()
for _, c in ipairs(vim.lsp.get_clients({ name = 'devspaces' })) do
  c:stop()
end
vim.wait(5000, function()
  return #vim.lsp.get_clients({ name = 'devspaces' }) == 0
end, 50)
-- Stop the daemon this test started (by the pid in its own state dir, never by name), then
-- remove the test's folder.
local pidfile = vim.fs.joinpath(vim.env.DEVSPACES_STATE_DIR, 'daemon.pid')
local pid = tonumber((vim.fn.readfile(pidfile)[1] or ''):match('%d+') or '')
if pid then
  vim.uv.kill(pid, 'sigterm')
  vim.wait(10000, function()
    return vim.uv.kill(pid, 0) ~= 0 or vim.fn.filereadable(pidfile) == 0
  end, 50)
end
vim.fn.delete(tmp, 'rf')
H.done()
