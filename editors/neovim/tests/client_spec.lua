-- Tests of the LSP wiring (vim.lsp.start, handlers, requests, commands) against tests/fake-devspacesd, a golden-fed test double.
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')
local ds = require('devspaces')

local fake = vim.fs.joinpath(H.plugin_dir, 'tests', 'fake-devspacesd')
local tmp = vim.fn.tempname()
local svc = vim.fs.joinpath(tmp, 'webfrontend')
vim.fn.mkdir(vim.fs.joinpath(svc, 'static'), 'p')
vim.fn.writefile(vim.fn.readfile(vim.fs.joinpath(H.repo, 'examples', 'python-web', 'azds.yaml')), vim.fs.joinpath(svc, 'azds.yaml'))
vim.fn.writefile({ '<p>hi</p>' }, vim.fs.joinpath(svc, 'static', 'index.html'))
svc = vim.uv.fs_realpath(svc)
local log = vim.fs.joinpath(tmp, 'received.jsonl')
vim.env.FAKE_LOG = log

local function received(method)
  local out = {}
  for _, line in ipairs(vim.fn.filereadable(log) == 1 and vim.fn.readfile(log) or {}) do
    local m = vim.json.decode(line)
    if m.method == method then
      out[#out + 1] = m
    end
  end
  return out
end

ds.setup({ daemon_path = fake, backend = 'local', space = 'dev/ana', trace_history = 10 })
local notes, restore = H.capture_notify()

H.test(':DevSpacesUp starts devspacesd --stdio on the azds.yaml folder and sends devspaces/up', function()
  vim.cmd.edit(vim.fs.joinpath(svc, 'static', 'index.html'))
  vim.cmd('DevSpacesUp')
  H.wait(5000, function()
    return ds.statusline() == 'webfrontend: running'
  end, 'the up result')
  local c = vim.lsp.get_clients({ name = 'devspaces' })[1]
  H.ok(c, 'a devspaces client')
  H.eq(svc, c.root_dir, 'root_dir')
  H.eq({ fake, '--stdio' }, c.config.cmd, 'cmd')
  local up = received('devspaces/up')[1].params
  H.eq(vim.fn.environ(), up.env, 'up carries the editor environment')
  H.eq(vim.env.PATH, up.env.PATH, 'PATH among it')
  up.env = nil
  H.eq({ attach = true, backend = 'local', path = svc, space = 'dev/ana' }, up, 'up params')
  H.eq(true, received('initialize')[1].params.capabilities.window.workDoneProgress, 'workDoneProgress declared')
  H.eq(0, #vim.lsp.get_clients({ bufnr = 0 }), 'the html buffer is not attached')
end)

H.test('the notifications after up reach the state: logs, trace, forward, synced, progress', function()
  local st = ds.state()
  local function error_notified()
    return vim.iter(notes):any(function(n)
      return n.level == vim.log.levels.ERROR and n.msg:find('build failed', 1, true)
    end)
  end
  -- The golden notifications arrive in order, but the notify of a showMessage may come after the
  -- state has the traces and logs: wait for all of them.
  H.wait(5000, function()
    return #st.traces == 1 and #st:log_lines('webfrontend') == 2 and error_notified()
  end, 'the golden events')
  local s = st:session_list()[1]
  H.eq(1, s.synced_count, 'synced')
  H.eq('http://localhost:3000', s.ports[3000].url, 'forward')
  H.eq(true, st.progress['devspaces/7f3a9c2e/sync/1'].done, 'progress ended')
  H.ok(error_notified(), 'showMessage error notified')
end)

H.test(':DevSpacesLogs opens the service logs buffer filled with what arrived', function()
  vim.cmd('DevSpacesLogs')
  H.eq('devspaces://logs/webfrontend', vim.api.nvim_buf_get_name(0), 'current buffer')
  H.eq({ '10:15:30 stdout GET /api/greeting 200', '-- 1832 lines dropped --' }, vim.api.nvim_buf_get_lines(0, 0, -1, false), 'lines')
  vim.cmd('close')
end)

H.test(':DevSpacesTraces lists the trace', function()
  vim.cmd('DevSpacesTraces')
  H.eq({ '10:15:30 webfrontend GET /api/greeting?name=ana 200 4ms trace 4bf92f35' }, vim.api.nvim_buf_get_lines(0, 0, -1, false), 'traces')
  vim.cmd('close')
end)

H.test(':DevSpacesPorts offers listUris and opens the choice with vim.ui.open', function()
  local offered, opened
  local sel, open = vim.ui.select, vim.ui.open
  vim.ui.select = function(items, opts, on_choice)
    offered = vim.tbl_map(opts.format_item, items)
    on_choice(items[2])
  end
  vim.ui.open = function(url)
    opened = url
  end
  vim.cmd('DevSpacesPorts')
  H.wait(5000, function()
    return opened ~= nil
  end, 'vim.ui.open')
  vim.ui.select, vim.ui.open = sel, open
  H.eq(2, #offered, 'offered uris')
  H.eq('http://ana.s.dev.webfrontend.1a2b3c4d.eus.azds.io', opened, 'opened url')
end)

H.test(':DevSpacesClassify asks devspaces/classify for the current file and shows the class', function()
  local before = #notes
  vim.cmd('DevSpacesClassify')
  H.wait(5000, function()
    return #notes > before
  end, 'the classify result')
  local want_params = { path = svc, paths = { vim.fs.joinpath(svc, 'static', 'index.html') } }
  H.eq(want_params, received('devspaces/classify')[1].params, 'classify params')
  H.eq('static/index.html: static-sync (3: sync static/**, static)', notes[#notes].msg, 'shown')
end)

H.test(':DevSpacesRestart redeploy sends the kind', function()
  vim.cmd('DevSpacesRestart redeploy')
  H.wait(5000, function()
    return #received('devspaces/restart') == 1
  end, 'restart request')
  H.eq('redeploy', received('devspaces/restart')[1].params.kind, 'kind')
  H.wait(5000, function()
    return ds.statusline() == 'webfrontend: restarting'
  end, 'restarting phase')
end)

H.test('opening azds.yaml attaches it to the client for diagnostics', function()
  vim.cmd.edit(vim.fs.joinpath(svc, 'azds.yaml'))
  H.wait(5000, function()
    return #received('textDocument/didOpen') == 1
  end, 'didOpen of azds.yaml')
  H.eq(vim.uri_from_fname(vim.fs.joinpath(svc, 'azds.yaml')), received('textDocument/didOpen')[1].params.textDocument.uri, 'uri')
end)

H.test(':DevSpacesDown stops the session', function()
  local down
  vim.api.nvim_create_autocmd('User', { pattern = 'DevSpacesDown', once = true, callback = function(ev) down = ev.data end })
  vim.cmd('DevSpacesDown')
  H.wait(5000, function()
    return down ~= nil
  end, 'the down result')
  H.eq('stopped', down.outcome, 'outcome')
  H.eq({ backend = 'local', path = svc, space = 'dev/ana' }, received('devspaces/down')[1].params, 'down params')
  H.eq('webfrontend: stopped', ds.statusline(), 'statusline')
end)

-- A folder with a service (an azds.yaml) in each of `names`.
local function app(name, names)
  local root = vim.fs.joinpath(tmp, name)
  for _, n in ipairs(names) do
    vim.fn.mkdir(vim.fs.joinpath(root, n), 'p')
    vim.fn.writefile({ 'kind: helm-release', 'apiVersion: 1.1' }, vim.fs.joinpath(root, n, 'azds.yaml'))
  end
  return vim.uv.fs_realpath(root)
end

local function session_of(service)
  return ds.state():find_service(service)[1]
end

local shop

H.test(':DevSpacesUp on a folder of three services sends one devspaces/up with that folder', function()
  shop = app('shop', { 'web', 'api', 'data' })
  local ups = #received('devspaces/up')
  vim.cmd('DevSpacesUp ' .. vim.fn.fnameescape(shop))
  H.wait(5000, function()
    return #ds.state():find_service('api') == 1 and #ds.state():find_service('data') == 1 and #ds.state():find_service('web') == 1
      and session_of('web').ports[41002] ~= nil
  end, 'three sessions with their forwards')
  H.eq(ups + 1, #received('devspaces/up'), 'one up request')
  local up = received('devspaces/up')[ups + 1].params
  H.eq(shop, up.path, 'the folder')
  H.eq(nil, up.paths, 'no paths')
  H.ok(require('devspaces.client').get(shop), 'a client on the folder')
  H.ok(ds.statusline():find('api: running | data: running | web: running', 1, true), ds.statusline())
  H.eq('http://localhost:41000', session_of('api').ports[41000].url, 'api forward')
  H.eq(shop .. '/data', session_of('data').path, 'data path')
end)

H.test(':DevSpacesStatus lists every service with phase, URL, forwards and recent requests', function()
  vim.cmd('DevSpacesStatus')
  H.eq('devspaces://status', vim.api.nvim_buf_get_name(0), 'the status buffer')
  local text = table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\n')
  for i, name in ipairs({ 'api', 'data', 'web' }) do
    H.ok(text:find('\n' .. name .. '  running (pid 4242)', 1, true), text)
    H.ok(text:find(string.format('  http://localhost:%d -> 80\n', 41000 + i - 1), 1, true), text)
    H.ok(text:find('  ' .. shop .. '/' .. name .. '\n', 1, true), text)
  end
  -- Each block (the stopped webfrontend's too) ends with its own recent request.
  local blocks = vim.split(text, '\n\n', { plain = true })
  H.eq({ 'webfrontend  stopped', 'api  running', 'data  running', 'web  running' }, vim.tbl_map(function(b)
    return b:match('^(%S+  %S+)')
  end, vim.list_slice(blocks, 2)), 'every session, first seen first')
  for _, b in ipairs(vim.list_slice(blocks, 2)) do
    H.ok(vim.endswith(b, '\n  GET /api/greeting?name=ana 200 4ms  10:15:30'), b)
  end
end)

H.test('d in the status view stops the service under the cursor, through the folder\'s client', function()
  local clients = #vim.lsp.get_clients({ name = 'devspaces' })
  local api = session_of('api')
  local line = vim.iter(ipairs(vim.api.nvim_buf_get_lines(0, 0, -1, false))):find(function(_, l)
    return vim.startswith(l, 'api  ')
  end)
  vim.api.nvim_win_set_cursor(0, { line + 1, 0 })
  local downs = #received('devspaces/down')
  vim.cmd('normal d')
  H.wait(5000, function()
    return api.phase == 'stopped'
  end, 'api stopped')
  H.eq({ session = api.session }, received('devspaces/down')[downs + 1].params, 'down of the session')
  H.eq(downs + 1, #received('devspaces/down'), 'one down request')
  H.eq(clients, #vim.lsp.get_clients({ name = 'devspaces' }), 'no new client')
  H.ok(vim.iter(vim.api.nvim_buf_get_lines(0, 0, -1, false)):any(function(l)
    return vim.startswith(l, 'api  stopped')
  end), 'the status view shows it stopped')
  vim.cmd('close')
end)

H.test(':DevSpacesRestart! and :DevSpacesDown! act on every live session', function()
  local live = vim.tbl_map(function(s)
    return s.session
  end, ds.state():live_sessions())
  table.sort(live)
  H.eq(2, #live, 'data and web (webfrontend and api were stopped)')
  local restarts, downs = #received('devspaces/restart'), #received('devspaces/down')
  vim.cmd('DevSpacesRestart!')
  H.wait(5000, function()
    return #received('devspaces/restart') == restarts + 2
  end, 'two restarts')
  local restarted = vim.tbl_map(function(m)
    return m.params.session
  end, vim.list_slice(received('devspaces/restart'), restarts + 1))
  table.sort(restarted)
  H.eq(live, restarted, 'one restart per session')
  vim.cmd('DevSpacesDown!')
  H.wait(5000, function()
    return #ds.state():live_sessions() == 0
  end, 'every session stopped')
  local got = vim.tbl_map(function(m)
    return m.params.session
  end, vim.list_slice(received('devspaces/down'), downs + 1))
  table.sort(got)
  H.eq(live, got, 'one down per session')
end)

H.test('a service that does not start is notified by name; the others start', function()
  local half = app('half', { 'good' })
  vim.fn.mkdir(vim.fs.joinpath(half, 'broken'), 'p')
  vim.fn.writefile({ 'kind: helm-release', 'instal:', '  chart: x' }, vim.fs.joinpath(half, 'broken', 'azds.yaml'))
  local before = #notes
  vim.cmd('DevSpacesUp ' .. vim.fn.fnameescape(half))
  H.wait(5000, function()
    return session_of('good') ~= nil and session_of('good').phase == 'running'
  end, 'good running')
  local errs = vim.tbl_filter(function(n)
    return n.level == vim.log.levels.ERROR and n.msg:find('up failed', 1, true)
  end, vim.list_slice(notes, before + 1))
  H.eq({ "devspaces: up failed: broken: azds.yaml:3:1: unknown key 'instal' (did you mean 'install'?)" }, vim.tbl_map(function(n)
    return n.msg
  end, errs), 'the failure, by name')
  H.eq(nil, session_of('broken'), 'no session for broken')
  vim.cmd('DevSpacesDown ' .. vim.fn.fnameescape(half))
  H.wait(5000, function()
    return session_of('good') == nil
  end, 'good stopped by down of its folder')
end)

H.test('outside any service, :DevSpacesUp says there is no azds.yaml above or below', function()
  vim.fn.mkdir(vim.fs.joinpath(tmp, 'loose'), 'p')
  vim.cmd.edit(vim.fs.joinpath(tmp, 'loose', 'loose.txt'))
  local before = #notes
  vim.cmd('DevSpacesUp')
  H.ok(#notes > before and notes[#notes].msg:find('no azds.yaml', 1, true), vim.inspect(notes[#notes]))
end)

H.test('a daemon speaking another protocol version is refused with a clear message', function()
  for _, c in ipairs(vim.lsp.get_clients({ name = 'devspaces' })) do
    c:stop(true)
  end
  H.wait(5000, function()
    return #vim.lsp.get_clients({ name = 'devspaces' }) == 0
  end, 'clients stopped')
  vim.env.FAKE_PROTOCOL_VERSION = '2'
  local err
  ds.up(svc, function(e)
    err = e
  end)
  H.wait(5000, function()
    return err ~= nil
  end, 'the refusal')
  vim.env.FAKE_PROTOCOL_VERSION = nil
  H.ok(tostring(err):find('protocol version 2', 1, true), tostring(err))
end)

H.test('a missing daemon is reported, not thrown', function()
  ds.setup({ daemon_path = vim.fs.joinpath(tmp, 'no-such-devspacesd') })
  local err
  ds.up(svc, function(e)
    err = e
  end)
  H.ok(tostring(err):find('devspacesd not found', 1, true), tostring(err))
end)

restore()
H.done()
