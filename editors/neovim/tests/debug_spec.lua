-- Tests of debugging through nvim-dap (a stand-in `dap` module on the runtime path) against tests/fake-devspacesd:
-- the adapter and configuration entries, :DevSpacesDebug attaching at devspaces/debugReady, and again after a restart.
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')
vim.opt.runtimepath:prepend(vim.fs.joinpath(H.plugin_dir, 'tests', 'standin'))
local ds = require('devspaces')
local dap = require('dap')

local fake = vim.fs.joinpath(H.plugin_dir, 'tests', 'fake-devspacesd')
local tmp = vim.fn.tempname()
local svc = vim.fs.joinpath(tmp, 'webfrontend')
vim.fn.mkdir(svc, 'p')
vim.fn.writefile(vim.fn.readfile(vim.fs.joinpath(H.repo, 'examples', 'python-web', 'azds.yaml')), vim.fs.joinpath(svc, 'azds.yaml'))
vim.fn.writefile({ 'print("hi")' }, vim.fs.joinpath(svc, 'app.py'))
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

local function session()
  return ds.state():live_sessions()[1]
end

local entry_name = 'devspaces: attach to the service'
local function entries(ft)
  return vim.tbl_filter(function(c)
    return c.name == entry_name
  end, dap.configurations[ft] or {})
end

ds.setup({ daemon_path = fake, backend = 'local', space = 'dev/ana' })
local _, restore = H.capture_notify()

H.test('setup registers the adapters and one configuration entry per filetype, once', function()
  H.eq('function', type(dap.adapters.devspaces_python), 'devspaces_python adapter')
  H.eq('function', type(dap.adapters.devspaces_go), 'devspaces_go adapter')
  ds.setup({ daemon_path = fake, backend = 'local', space = 'dev/ana' })
  for _, ft in ipairs({ 'python', 'javascript', 'typescript', 'go', 'cs' }) do
    H.eq(1, #entries(ft), ft .. ' entries')
    H.eq('attach', entries(ft)[1].request, ft .. ' request')
  end
  H.eq('devspaces_python', entries('python')[1].type, 'python type')
  H.eq('pwa-node', entries('javascript')[1].type, 'javascript goes through js-debug')
  H.eq('function', type(entries('python')[1].pathMappings), 'pathMappings read when the entry runs')
  H.eq('function', type(entries('javascript')[1].localRoot), 'localRoot read when the entry runs')
end)

H.test(':DevSpacesDebug sends devspaces/debug and runs an attach with the host, port and mappings of debugReady', function()
  vim.cmd.edit(vim.fs.joinpath(svc, 'app.py'))
  vim.cmd('DevSpacesUp')
  H.wait(5000, function()
    return ds.statusline() == 'webfrontend: running'
  end, 'the service running')
  H.eq(nil, session().debug, 'no debugReady before debugging')
  vim.cmd('DevSpacesDebug')
  H.wait(5000, function()
    return #dap.runs == 1
  end, 'an attach')
  H.eq({ { session = session().session, enable = true } }, vim.tbl_map(function(m)
    return m.params
  end, received('devspaces/debug')), 'devspaces/debug params')
  H.eq({
    type = 'devspaces_python',
    request = 'attach',
    name = 'devspaces: webfrontend',
    devspaces_session = session().session,
    connect = { host = '127.0.0.1', port = 5678 },
    pathMappings = { { localRoot = svc, remoteRoot = '/fake-state/webfrontend/fs/app' } },
    justMyCode = false,
  }, dap.runs[1], 'the attach configuration')
  local adapter
  dap.adapters.devspaces_python(function(a)
    adapter = a
  end, dap.runs[1])
  H.eq({ type = 'server', host = '127.0.0.1', port = 5678 }, adapter, 'the server adapter')
end)

H.test('after a restart under the debugger, the next debugReady attaches again', function()
  -- The old debug server goes away with the app: nvim-dap hears `terminated`.
  dap.listeners.before.event_terminated.devspaces({ config = dap.runs[1] })
  vim.cmd('DevSpacesRestart')
  H.wait(5000, function()
    return #dap.runs == 2
  end, 'a second attach')
  H.eq(dap.runs[1], dap.runs[2], 'the same configuration')
  H.eq(1, session().debug.restarts, 'restarts counted')
  H.ok(vim.tbl_contains(require('devspaces.view').status_lines(ds.state()),
    '  debugger python 127.0.0.1:5678 -> 41873 (restart 1)'), 'the status view shows the debugger')
end)

H.test('once the user stops debugging, a restart does not attach; :DevSpacesDebug attaches at once', function()
  dap.listeners.before.disconnect.devspaces({ config = dap.runs[2] })
  vim.cmd('DevSpacesRestart')
  H.wait(5000, function()
    return session().debug.restarts == 2 and session().phase == 'running'
  end, "the restart's debugReady")
  H.eq(nil, require('devspaces.debug').wanted[session().session], 'no longer debugged by the editor')
  vim.cmd('DevSpacesDebug webfrontend')
  H.wait(5000, function()
    return #dap.runs >= 3
  end, 'the attach')
  -- Had the restart's debugReady attached too, its run would have come before this one.
  H.eq(3, #dap.runs, 'no attach after the user stopped, one for :DevSpacesDebug')
  H.eq(1, #received('devspaces/debug'), 'the debug server runs: no second request')
  H.eq(dap.runs[1], dap.runs[3], 'the same configuration')
end)

H.test("the python entry reads the current buffer's service's latest debugReady", function()
  local e = entries('python')[1]
  H.eq({ host = '127.0.0.1', port = 5678 }, e.connect(), 'connect')
  H.eq({ { localRoot = svc, remoteRoot = '/fake-state/webfrontend/fs/app' } }, e.pathMappings(), 'pathMappings')
  H.eq(session().session, e.devspaces_session(), 'session')
  local ok, err = pcall(entries('go')[1].host)
  H.ok(not ok and tostring(err):find('no service runs under its debugger', 1, true), tostring(err))
end)

H.test('nvim-dap configurations for the other kinds of debug server', function()
  local dbg = require('devspaces.debug')
  local ready = H.golden('debug-ready.params.json')
  local m = ready.pathMappings[1]
  local node = dbg.configuration(vim.tbl_extend('force', ready, { adapter = 'node', port = 9229 }))
  H.eq({ 'pwa-node', 'attach', '127.0.0.1', 9229, m.localRoot, m.remoteRoot },
    { node.type, node.request, node.address, node.port, node.localRoot, node.remoteRoot }, 'node')
  local go = dbg.configuration(vim.tbl_extend('force', ready, { adapter = 'go', port = 2345 }))
  H.eq({ 'devspaces_go', 'remote', 2345, { { from = m.localRoot, to = m.remoteRoot } } },
    { go.type, go.mode, go.port, go.substitutePath }, 'go')
  local java, why = dbg.configuration(vim.tbl_extend('force', ready, { adapter = 'java', port = 5005 }))
  H.eq(nil, java, 'java')
  H.ok(why:find('nvim-jdtls', 1, true), why)
end)

restore()
vim.fn.delete(tmp, 'rf')
H.done()
