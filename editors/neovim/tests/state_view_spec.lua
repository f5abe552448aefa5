-- Unit tests of the state and view modules, fed with the protocol's golden JSON (protocol/tests/golden).
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')
local State = require('devspaces.state')
local view = require('devspaces.view')
local client = require('devspaces.client')

local function fed(events, opts)
  local st = State.new(opts)
  for _, e in ipairs(events) do
    st:apply(e.method, e.params)
  end
  return st
end

H.test('every event of events.json is understood by the state', function()
  for _, e in ipairs(H.golden('events.json')) do
    H.ok(vim.tbl_contains(State.methods, e.method), 'state does not know ' .. e.method)
    H.ok(vim.tbl_contains(client.notifications, e.method), 'client has no handler for ' .. e.method)
    H.ok(State.new():apply(e.method, e.params), 'no change for ' .. e.method)
  end
end)

H.test('the client handles every notification the daemon advertises, and $/progress', function()
  local advertised = H.golden('initialize.experimental.json').devspaces.notifications
  for _, m in ipairs(advertised) do
    H.ok(vim.tbl_contains(client.notifications, m), 'no handler for advertised ' .. m)
  end
  H.ok(vim.tbl_contains(client.notifications, '$/progress'), 'no $/progress handler')
  H.eq(H.golden('initialize.experimental.json').devspaces.protocolVersion, client.PROTOCOL_VERSION, 'protocol version')
end)

H.test('debugReady keeps the latest debug server of its session, shown in the status view', function()
  local st = fed(H.golden('events.json'))
  local ready = H.golden('debug-ready.params.json')
  H.eq(ready, st:session_list()[1].debug, 'debug')
  local change = st:apply('devspaces/debugReady', vim.tbl_extend('force', ready, { restarts = 3 }))
  H.eq('debugReady', change.kind, 'change kind')
  H.eq(3, st:session_list()[1].debug.restarts, 'the latest')
  H.ok(vim.tbl_contains(view.status_lines(st), '  debugger python 127.0.0.1:5678 -> 41873 (restart 3)'), 'status line')
end)

H.test('events.json builds one session with logs, a trace, a forward, a phase and a sync', function()
  local st = fed(H.golden('events.json'))
  local sessions = st:session_list()
  H.eq(1, #sessions, 'sessions')
  local s = sessions[1]
  H.eq('webfrontend', s.service, 'service')
  H.eq('running', s.phase, 'phase')
  H.eq('pid 4242', s.detail, 'detail')
  H.eq('http://localhost:3000', s.ports[3000].url, 'forward url')
  H.eq('open', s.ports[3000].state, 'forward state')
  H.eq(1, s.synced_count, 'synced count')
  H.eq({ 'public/index.html', 'public/site.css' }, s.last_synced.files, 'synced files')
  H.eq(1832, s.dropped, 'dropped count')
  H.eq(1, #st.traces, 'traces')
  H.eq(1, #st.messages, 'messages')
  H.eq({ 'webfrontend' }, st:services(), 'services')
  local lines = vim.tbl_map(view.log_text, st:log_lines('webfrontend'))
  H.eq({ '10:15:30 stdout GET /api/greeting 200', '-- 1832 lines dropped --' }, lines, 'log lines')
end)

H.test('view renders a log, a trace and the statusline from the goldens', function()
  H.eq('10:15:30 stdout Listening on port 80', view.log_text(H.golden('log.params.json')), 'log line')
  H.eq(
    '10:15:30 webfrontend GET /api/greeting?name=ana 200 4ms trace 4bf92f35',
    view.trace_text(H.golden('trace.params.json')),
    'trace line'
  )
  H.eq(
    '10:15:30 data GET /items 200 1ms from api, served by dev/alice trace 4bf92f35',
    view.trace_text(H.golden('trace.routed.params.json')),
    'routed trace line'
  )
  local st = State.new()
  H.eq('', view.statusline(st), 'empty statusline')
  st:apply('devspaces/serviceStatus', H.golden('service-status.running.params.json'))
  H.eq('webfrontend: running', view.statusline(st), 'statusline')
end)

H.test('every phase renders in the statusline', function()
  for _, phase in ipairs(H.golden('phase.json')) do
    local st = State.new()
    st:apply('devspaces/serviceStatus', { service = 'svc', session = 's1', phase = phase })
    H.eq('svc: ' .. phase, view.statusline(st), 'statusline for ' .. phase)
  end
end)

H.test('crashed and failed notify with exit code and last lines; running does not', function()
  local st = State.new()
  local crashed = st:apply('devspaces/serviceStatus', H.golden('service-status.params.json'))
  local msg, level = view.failure(crashed)
  H.eq(vim.log.levels.ERROR, level, 'level')
  H.eq(
    'devspaces: webfrontend crashed (exit code 1): node server.js exited\n  TypeError: x is not a function\n      at server.js:12:5',
    msg,
    'crash message'
  )
  H.eq(1, st:session_list()[1].exit_code, 'exit code kept')
  local failed = st:apply('devspaces/serviceStatus', { service = 'w', session = 's', phase = 'failed', detail = 'build failed' })
  H.eq('devspaces: w failed: build failed', (view.failure(failed)), 'failed message')
  local running = st:apply('devspaces/serviceStatus', H.golden('service-status.running.params.json'))
  H.eq(nil, view.failure(running), 'running is no failure')
  H.eq(nil, st:session_list()[1].exit_code, 'exit code cleared when running')
end)

H.test('window/showMessage notifies at the level of its type', function()
  local st = State.new()
  local msg, level = view.failure(st:apply('window/showMessage', H.golden('show-message.params.json')))
  H.eq('devspaces: webfrontend: build failed: npm install exited with code 1', msg, 'message')
  H.eq(vim.log.levels.ERROR, level, 'error level')
  local _, warn = view.failure(st:apply('window/showMessage', { type = 2, message = 'w: slow' }))
  H.eq(vim.log.levels.WARN, warn, 'warning level')
end)

H.test('an up result and a status result record sessions with their forwards', function()
  local st = State.new()
  st:apply_session(H.golden('up.result.json'))
  local s = st:session_list()[1]
  H.eq('/home/ana/src/samples/nodejs/webfrontend', s.path, 'path')
  H.eq('dev/ana', s.space, 'space')
  H.eq(80, s.ports[3000].remotePort, 'remote port')
  for _, info in ipairs(H.golden('status.result.json').sessions) do
    st:apply_session(info)
  end
  H.eq(1, #st:session_list(), 'same session, not a second one')
  H.eq('webfrontend: running', view.statusline(st), 'statusline')
end)

H.test('an up result does not undo what notifications said before it arrived', function()
  local st = State.new()
  -- The daemon read the session (syncing, no forward), then the app came up and its events were
  -- sent before the answer.
  st:apply('devspaces/portForward', H.golden('port-forward.params.json'))
  st:apply('devspaces/serviceStatus', H.golden('service-status.running.params.json'))
  local stale = vim.tbl_extend('force', H.golden('up.result.json'), { phase = 'syncing', detail = '', portForwards = {} })
  st:apply_up(stale)
  local s = st:session_list()[1]
  H.eq('running', s.phase, 'phase from the notification')
  H.eq('pid 4242', s.detail, 'detail from the notification')
  H.eq('/home/ana/src/samples/nodejs/webfrontend', s.path, 'path from the result')
  H.eq({ 3000 }, vim.tbl_keys(s.ports), 'the forward kept')
  -- A session the notifications have not named yet is taken as the result says.
  st:apply_up(vim.tbl_extend('force', H.golden('up.result.json'), { session = 'b2', service = 'api', phase = 'syncing' }))
  H.eq('webfrontend: running | api: syncing', view.statusline(st), 'statusline')
end)

H.test('the status view lists each session of up-many.result.json with phase, folder, URL and requests', function()
  local st = State.new()
  for _, o in ipairs(H.golden('up-many.result.json').services) do
    if o.session then
      st:apply_up(o.session)
    end
  end
  st:apply('devspaces/synced', H.golden('synced.params.json'))
  st:apply('devspaces/trace', H.golden('trace.params.json'))
  st:apply('devspaces/trace', vim.tbl_extend('force', H.golden('trace.params.json'), { path = '/o', service = 'other', session = 'o1' }))
  st:apply_session({ session = 'b2', service = 'api', phase = 'building', path = '/home/ana/src/app/api' })
  local lines, at = view.status_lines(st)
  H.eq({
    'devspaces: 3 services up   ' .. view.status_keys,
    '',
    'webfrontend  running (pid 4242)  space dev/ana, local, session 7f3a9c2e',
    '  /home/ana/src/samples/nodejs/webfrontend',
    '  http://localhost:3000 -> 80',
    '  synced static-sync: public/index.html, public/site.css (12 ms)',
    '  GET /api/greeting?name=ana 200 4ms  10:15:30',
    '',
    'other  unknown  session o1',
    '  GET /o 200 4ms  10:15:30',
    '',
    'api  building  session b2',
    '  /home/ana/src/app/api',
    '  no requests yet',
  }, lines, 'lines')
  H.eq('7f3a9c2e', at[3], 'a service line names its session')
  H.eq('7f3a9c2e', at[7], 'so does its last request')
  H.eq(nil, at[8], 'the blank line between blocks names none')
  H.eq('b2', at[14], 'the last block')
  local empty = view.status_lines(State.new())
  H.eq('no session yet: :DevSpacesUp in a service folder, or in a folder of services', empty[3], 'empty')
end)

H.test('the status buffer follows the state', function()
  local st = State.new()
  local detach = view.attach(st)
  local buf = view.status_buffer(st)
  H.eq('devspaces://status', vim.api.nvim_buf_get_name(buf), 'buffer name')
  st:apply('devspaces/serviceStatus', H.golden('service-status.running.params.json'))
  H.wait(2000, function()
    return vim.api.nvim_buf_get_lines(buf, 2, 3, false)[1] == 'webfrontend  running (pid 4242)  session 7f3a9c2e'
  end, 'the new session rendered')
  H.eq('7f3a9c2e', view.status_session_at(3), 'the line names the session')
  detach()
end)

H.test('listUris and classify results render as picker items and lines', function()
  local uris = H.golden('list-uris.result.json').uris
  H.eq('webfrontend  http://localhost:3000  (port 80, localhost)', view.uri_text(uris[1]), 'localhost uri')
  H.eq('webfrontend  http://ana.s.dev.webfrontend.1a2b3c4d.eus.azds.io  (port 80, public)', view.uri_text(uris[2]), 'public uri')
  local pf = H.golden('port-forward.params.json')
  pf.state = 'reconnecting'
  H.eq('webfrontend  http://localhost:3000  (port 80) [reconnecting]', view.uri_text(pf), 'reconnecting forward')
  H.eq({
    'Pages/Index.cshtml: static-sync (3: sync **/Pages/**, static)',
    'server.js: process-restart (3: sync **/*.js)',
    'azds.yaml: redeploy (1: azds.yaml)',
    '.git/HEAD: ignored (2: .git/)',
  }, view.classify_lines(H.golden('classify.result.json')), 'classify lines')
end)

H.test('$/progress begin, report, end as documented', function()
  local st = State.new()
  local token = 'devspaces/7f3a9c2e/sync/1'
  st:apply('$/progress', { token = token, value = {
    kind = 'begin', title = 'webfrontend: sync', cancellable = false, message = '0/214 files', percentage = 0,
  } })
  st:apply('$/progress', { token = token, value = { kind = 'report', message = '107/214 files', percentage = 50 } })
  H.eq({ title = 'webfrontend: sync', message = '107/214 files', percentage = 50, done = false }, st.progress[token], 'report')
  st:apply('$/progress', { token = token, value = { kind = 'end', message = '214 files in 830 ms' } })
  H.eq(true, st.progress[token].done, 'done')
  H.eq('214 files in 830 ms', st.progress[token].message, 'end message')
end)

H.test('trace and log history are bounded', function()
  local st = State.new({ trace_history = 2, log_history = 3 })
  local t = H.golden('trace.params.json')
  for i = 1, 5 do
    st:apply('devspaces/trace', vim.tbl_extend('force', t, { path = '/' .. i }))
  end
  H.eq({ '/4', '/5' }, vim.tbl_map(function(x) return x.path end, st.traces), 'kept traces')
  local l = H.golden('log.params.json')
  for i = 1, 5 do
    st:apply('devspaces/log', vim.tbl_extend('force', l, { line = 'l' .. i }))
  end
  H.eq({ 'l3', 'l4', 'l5' }, vim.tbl_map(function(x) return x.line end, st:log_lines('webfrontend')), 'kept log lines')
end)

H.test('the logs buffer fills from the state, follows new lines and trims with the history', function()
  local st = State.new({ log_history = 4 })
  local detach = view.attach(st)
  local l = H.golden('log.params.json')
  st:apply('devspaces/log', vim.tbl_extend('force', l, { line = 'first' }))
  local buf = view.logs_buffer(st, 'webfrontend')
  H.eq('devspaces://logs/webfrontend', vim.api.nvim_buf_get_name(buf), 'buffer name')
  H.eq('nofile', vim.bo[buf].buftype, 'scratch')
  local win = view.show(buf)
  H.eq({ '10:15:30 stdout first' }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'filled')
  for i = 2, 6 do
    st:apply('devspaces/log', vim.tbl_extend('force', l, { line = 'line ' .. i, stream = 'stderr' }))
  end
  local lines = vim.api.nvim_buf_get_lines(buf, 0, -1, false)
  H.eq(4, #lines, 'trimmed to history')
  H.eq('10:15:30 stderr line 6', lines[4], 'last line')
  H.eq(4, vim.api.nvim_win_get_cursor(win)[1], 'cursor follows')
  H.eq(false, vim.bo[buf].modifiable, 'read-only')
  -- a cursor moved up stops following
  vim.api.nvim_win_set_cursor(win, { 1, 0 })
  st:apply('devspaces/log', vim.tbl_extend('force', l, { line = 'line 7' }))
  H.eq(1, vim.api.nvim_win_get_cursor(win)[1], 'cursor stays when not at the end')
  -- another service's lines go to another buffer
  st:apply('devspaces/log', vim.tbl_extend('force', l, { service = 'other', session = 'x', line = 'elsewhere' }))
  H.ok(not vim.tbl_contains(vim.api.nvim_buf_get_lines(buf, 0, -1, false), '10:15:30 stdout elsewhere'), 'no cross-talk')
  detach()
end)

H.test('the traces buffer lists recent requests live', function()
  local st = State.new({ trace_history = 3 })
  local detach = view.attach(st)
  local buf = view.traces_buffer(st)
  H.eq('devspacestraces', vim.bo[buf].filetype, 'filetype')
  local t = H.golden('trace.params.json')
  for i = 1, 4 do
    st:apply('devspaces/trace', vim.tbl_extend('force', t, { path = '/p' .. i, status = 200 + i, durationMs = i }))
  end
  H.eq({
    '10:15:30 webfrontend GET /p2 202 2ms trace 4bf92f35',
    '10:15:30 webfrontend GET /p3 203 3ms trace 4bf92f35',
    '10:15:30 webfrontend GET /p4 204 4ms trace 4bf92f35',
  }, vim.api.nvim_buf_get_lines(buf, 0, -1, false), 'trace lines')
  detach()
end)

H.test('dispatch notifies on failures through vim.notify', function()
  local ds = require('devspaces')
  local got, restore = H.capture_notify()
  ds.dispatch('devspaces/serviceStatus', H.golden('service-status.params.json'))
  ds.dispatch('window/showMessage', H.golden('show-message.params.json'))
  ds.dispatch('devspaces/log', H.golden('log.params.json'))
  restore()
  H.eq(2, #got, 'two notifications')
  H.ok(got[1].msg:find('webfrontend crashed', 1, true), got[1].msg)
  H.eq(vim.log.levels.ERROR, got[2].level, 'showMessage level')
  H.eq('webfrontend: crashed', ds.statusline(), 'statusline after crash')
end)

H.test('the commands are defined', function()
  for _, c in ipairs({ 'Up', 'Down', 'Restart', 'Logs', 'Traces', 'Ports', 'Classify', 'Status', 'Prep' }) do
    H.eq(2, vim.fn.exists(':DevSpaces' .. c), ':DevSpaces' .. c)
  end
end)

H.test('errors render with location, hint and candidates', function()
  local e = vim.json.decode([[{"code": -32902, "message": "unknown key 'comand' in configurations.develop.container",
    "data": {"hint": "did you mean 'command'?", "location": {"column": 7, "file": "/s/azds.yaml", "line": 12}}}]])
  local want = "/s/azds.yaml:12:7: unknown key 'comand' in configurations.develop.container (did you mean 'command'?)"
  H.eq(want, require('devspaces').error_text(e), 'error text')
  H.eq('plain', require('devspaces').error_text('plain'), 'string error')
end)

H.done()
