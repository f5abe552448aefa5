-- The devspaces plugin: setup(opts), the actions behind the :DevSpaces* commands, and the statusline.
local config = require('devspaces.config')
local State = require('devspaces.state')
local view = require('devspaces.view')
local client = require('devspaces.client')

local M = {}

local function notify(msg, level)
  vim.notify(msg, level or vim.log.levels.INFO)
end

--- A JSON-RPC error (or a plain message) as one line: message, hint and location.
function M.error_text(err)
  if type(err) ~= 'table' then
    return tostring(err)
  end
  local s = tostring(err.message or vim.inspect(err))
  local data = type(err.data) == 'table' and err.data or {}
  if data.location then
    s = string.format('%s:%s:%s: %s', data.location.file or '?', data.location.line or '?', data.location.column or '?', s)
  end
  if data.hint then
    s = s .. ' (' .. data.hint .. ')'
  end
  if data.candidates then
    s = s .. ' (sessions: ' .. table.concat(data.candidates, ', ') .. ')'
  end
  return s
end

local function fail(action, err)
  notify(string.format('devspaces: %s failed: %s', action, M.error_text(err)), vim.log.levels.ERROR)
end

local function on_change(change)
  local msg, level = view.failure(change)
  if msg then
    notify(msg, level)
  end
  if change.kind == 'debugReady' then
    require('devspaces.debug').on_ready(change.ready)
  end
end

--- The state the daemon's notifications build (created on first use).
function M.state()
  if not M._state then
    M._state = State.new(config.options)
    M._detach = { view.attach(M._state), M._state:subscribe(on_change) }
  end
  return M._state
end

--- Record one notification from the daemon (the client's handlers call this).
function M.dispatch(method, params)
  M.state():apply(method, params)
end

--- Configure the plugin; see `:help devspaces-setup`.
function M.setup(opts)
  config.set(opts)
  require('devspaces.debug').register()
  if M._state then
    M._state.trace_history = config.options.trace_history
    M._state.log_history = config.options.log_history
  end
  return M
end

local function service_root(path)
  local source = (path and path ~= '') and vim.fn.fnamemodify(path, ':p') or 0
  local root = client.root(source)
  if not root then
    local where = source == 0 and vim.api.nvim_buf_get_name(0) or source
    if where == '' then
      where = vim.fn.getcwd()
    end
    fail('devspaces', string.format("no azds.yaml in '%s' or any folder above it", where))
  end
  return root
end

local function target(root)
  return { path = root, space = config.options.space, backend = config.options.backend }
end

local function event(name, data)
  vim.api.nvim_exec_autocmds('User', { pattern = name, data = data, modeline = false })
end

-- Sends `method` to the daemon of the service at `root`: a failure is reported as `action`, a
-- result goes to `on_result`, and `cb` (the caller's) always gets both.
local function call(root, action, method, params, on_result, cb)
  client.request(root, M.dispatch, method, params, function(err, result)
    if err then
      fail(action, err)
    else
      on_result(result)
    end
    if cb then
      cb(err, result)
    end
  end)
end

-- The folder `path` names (a file's folder), else the current buffer's folder, else the current
-- directory; resolved, as the daemon reports paths.
local function folder_of(path)
  local p
  if path and path ~= '' then
    p = vim.fn.fnamemodify(path, ':p')
  elseif vim.bo.buftype == '' then
    p = vim.api.nvim_buf_get_name(0)
  end
  if not p or p == '' then
    p = vim.fn.getcwd()
  elseif vim.fn.isdirectory(p) == 0 then
    p = vim.fs.dirname(p)
  end
  p = p:gsub('(.)/$', '%1')
  return vim.uv.fs_realpath(p) or p
end

--- What :DevSpacesUp starts for `path` (default: the current buffer, else the current directory):
--- the service around it (the nearest azds.yaml above), else, when the folder holds service folders
--- below it, that folder: the daemon starts every service below it in one request. Returns the
--- folder and whether it is one service, or nil and why not.
function M.up_target(path)
  local source = (path and path ~= '') and vim.fn.fnamemodify(path, ':p') or 0
  local root = client.root(source)
  if root then
    return root, true
  end
  local folder = folder_of(path)
  if #vim.fs.find('azds.yaml', { path = folder, type = 'file', limit = 1 }) > 0 then
    return folder, false
  end
  return nil, string.format("no azds.yaml in '%s', in any folder above it or below it", folder)
end

local function up_started(result)
  notify(string.format('devspaces: %s %s (session %s)', result.service, result.attached and 'attached' or 'started', result.session))
end

--- Start or attach to the session of the service around `path` (default: the current buffer's
--- file, else the current directory), or, in a folder of services, every service below it with
--- one `devspaces/up`.
function M.up(path, cb)
  local root, why = M.up_target(path)
  if not root then
    fail('up', why)
    return cb and cb(why)
  end
  local params = target(root)
  params.attach = true
  -- This Neovim's environment: the session expands azds.yaml's ${VAR} and runs the app with it,
  -- not with the environment of whoever started the shared daemon.
  local env = vim.fn.environ()
  if next(env) then
    params.env = env
  end
  call(root, 'up', 'devspaces/up', params, function(result)
    local st = M.state()
    local started = {}
    if result.services then
      -- An up of several services: one outcome each, a failure of one does not stop the others.
      for _, o in ipairs(result.services) do
        if o.session then
          st:apply_up(o.session)
          started[#started + 1] = o.session.service
          up_started(vim.tbl_extend('force', o.session, { attached = o.attached }))
        else
          local message = o.error and o.error.message or 'did not start'
          if not vim.startswith(message, o.name .. ':') then
            message = o.name .. ': ' .. message
          end
          fail('up', message)
        end
      end
    else
      st:apply_up(result)
      started[1] = result.service
      up_started(result)
    end
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) then
        client.attach_config_buffer(buf)
      end
    end
    if config.options.auto_open_logs and #started == 1 and not result.services then
      M.logs(started[1])
    elseif config.options.auto_open_logs and #started > 0 then
      M.status()
    end
    event('DevSpacesUp', result)
  end, cb)
end

--- The sessions a command acts on. `arg`: a service's name (a session this editor knows), or a
--- folder; default the current buffer. A service folder names its session (the daemon finds it by
--- path: `{ path = root }`); a folder outside any service stands for every session below it. With
--- `all`, every session that has not stopped. Returns a list of targets (each `{ session = s }` or
--- `{ path = root }`), or nil and why none.
function M.targets(arg, all)
  local st = M.state()
  if all then
    local live = st:live_sessions()
    if #live == 0 then
      return nil, 'no service is up'
    end
    return vim.tbl_map(function(s)
      return { session = s }
    end, live)
  end
  if arg and arg ~= '' then
    local named = st:find_service(arg)
    if #named > 0 then
      return vim.tbl_map(function(s)
        return { session = s }
      end, named)
    end
  end
  local source = (arg and arg ~= '') and vim.fn.fnamemodify(arg, ':p') or 0
  local root = client.root(source)
  if root then
    return { { path = root } }
  end
  local folder = folder_of(arg)
  local below = vim.tbl_filter(function(s)
    return s.path ~= nil and vim.startswith(s.path, folder .. '/')
  end, st:live_sessions())
  if #below > 0 then
    return vim.tbl_map(function(s)
      return { session = s }
    end, below)
  end
  if arg and arg ~= '' then
    return nil, string.format("'%s' is neither a service this editor knows nor a folder with an azds.yaml or sessions below it", arg)
  end
  return nil, string.format("no azds.yaml in '%s' or above it, and no session below it (name a service, or use ! for all)", folder)
end

-- Sends `method` for each target (see M.targets): through the client of the service's folder or
-- the one above it, with `params(t)` on top of the target's. `on_result` gets each result; `cb` gets
-- (errors or nil, results) once every request has answered.
local function for_each(targets, action, method, extra, on_result, cb)
  local left, errs, results = #targets, {}, {}
  for _, t in ipairs(targets) do
    local root, params
    if t.session then
      root = t.session.path or client.root(0) or vim.fn.getcwd()
      params = { session = t.session.session }
    else
      root = t.path
      params = target(t.path)
    end
    call(root, action, method, vim.tbl_extend('force', params, extra), function(result)
      results[#results + 1] = result
      on_result(result)
    end, function(err)
      if err then
        errs[#errs + 1] = err
      end
      left = left - 1
      if left == 0 and cb then
        cb(#errs > 0 and errs or nil, results)
      end
    end)
  end
end

local function down_targets(targets, cb)
  for_each(targets, 'down', 'devspaces/down', {}, function(result)
    if result.outcome == 'stopped' then
      M.state():apply_session({ session = result.session, service = result.service, phase = 'stopped' })
    end
    notify(string.format('devspaces: %s %s', result.service, result.outcome))
    event('DevSpacesDown', result)
  end, cb)
end

local function restart_targets(kind, targets, cb)
  local extra = { kind = (kind and kind ~= '') and kind or 'process' }
  for_each(targets, 'restart', 'devspaces/restart', extra, function(result)
    M.state():apply_session({ session = result.session, service = result.service, phase = result.phase })
    notify(string.format('devspaces: %s %s restart: %s', result.service, result.kind, result.phase))
  end, cb)
end

--- Stop sessions: of the service or folder `arg` names (see M.targets), default the current
--- buffer's; with `all`, every session. `cb(errors or nil, results)` once all have answered.
function M.down(arg, cb, all)
  local targets, why = M.targets(arg, all)
  if not targets then
    fail('down', why)
    return cb and cb({ why }, {})
  end
  down_targets(targets, cb)
end

--- Restart sessions, chosen as by M.down: `kind` is `process` (default) or `redeploy`.
function M.restart(kind, arg, cb, all)
  local targets, why = M.targets(arg, all)
  if not targets then
    fail('restart', why)
    return cb and cb({ why }, {})
  end
  restart_targets(kind, targets, cb)
end

-- The status view's keys act on the session of the block under the cursor, or on all.
local function status_keys(buf)
  local function here()
    local id = view.status_session_at(vim.api.nvim_win_get_cursor(0)[1])
    local s = id and M.state().sessions[id]
    if not s then
      notify('devspaces: the cursor is not on a service', vim.log.levels.WARN)
    end
    return s
  end
  local function map(lhs, fn, desc)
    vim.keymap.set('n', lhs, fn, { buffer = buf, nowait = true, silent = true, desc = 'devspaces: ' .. desc })
  end
  map('d', function()
    local s = here()
    if s then
      down_targets({ { session = s } })
    end
  end, 'down the service under the cursor')
  map('r', function()
    local s = here()
    if s then
      restart_targets('process', { { session = s } })
    end
  end, 'restart the service under the cursor')
  map('o', function()
    local s = here()
    if s then
      M.ports(s)
    end
  end, 'open a URL of the service under the cursor')
  map('l', function()
    local s = here()
    if s then
      M.logs(s.service)
    end
  end, 'the logs of the service under the cursor')
  map('D', function()
    M.down(nil, nil, true)
  end, 'down every service')
  map('R', function()
    M.restart('process', nil, nil, true)
  end, 'restart every service')
  map('q', '<cmd>close<cr>', 'close the status view')
end

--- Open the status view: every session with its phase, URLs, forwards and recent requests, kept
--- current; keys act on the service under the cursor or on all (see |devspaces-status|).
function M.status()
  local buf = view.status_buffer(M.state())
  status_keys(buf)
  local win = view.show(buf)
  vim.api.nvim_win_set_cursor(win, { 1, 0 })
  return buf
end

--- The session :DevSpacesDebug is about: the service named, else the current buffer's, else the
--- only one. Returns the session record, or nil and why.
function M.debug_target(arg)
  local st = M.state()
  if arg and arg ~= '' then
    local named = st:find_service(arg)
    if #named == 1 then
      return named[1]
    end
    local root = client.root(vim.fn.fnamemodify(arg, ':p'))
    for _, s in ipairs(st:live_sessions()) do
      if root and s.path == root then
        return s
      end
    end
    return nil, string.format("no session of '%s' in this editor: run :DevSpacesUp first", arg)
  end
  local root = client.root(0)
  local live = st:live_sessions()
  for _, s in ipairs(live) do
    if root and s.path == root then
      return s
    end
  end
  if #live == 1 then
    return live[1]
  end
  return nil, #live == 0 and 'no service is up: run :DevSpacesUp first' or 'several services are up: name one (:DevSpacesDebug {service})'
end

--- Debug a service (see M.debug_target): its app runs under its debug server (`devspaces/debug`)
--- and nvim-dap attaches when it is ready, again after each restart, until you stop debugging.
--- When its debug server already runs, attaches at once.
function M.debug(arg, cb)
  local s, why = M.debug_target(arg)
  if not s then
    fail('debug', why)
    return cb and cb(why)
  end
  local dbg = require('devspaces.debug')
  dbg.register()
  dbg.want(s.session)
  if s.debug and s.phase == 'running' then
    if dbg.take(s.debug) then
      dbg.attach(s.debug)
    else
      notify(string.format('devspaces: %s: the debugger is already attached', s.service))
    end
    return cb and cb(nil, { debug = true, service = s.service, session = s.session })
  end
  local root = s.path or client.root(0) or vim.fn.getcwd()
  call(root, 'debug', 'devspaces/debug', { session = s.session, enable = true }, function(result)
    notify(string.format('devspaces: %s: starting under its debugger', result.service))
  end, function(err, result)
    if err then
      dbg.wanted[s.session] = nil
    end
    if cb then
      cb(err, result)
    end
  end)
end

--- Open the logs buffer of a service (default: the current buffer's, else the only one, else ask).
function M.logs(service)
  local st = M.state()
  local function open(name)
    if name then
      view.show(view.logs_buffer(st, name))
    end
  end
  if service and service ~= '' then
    return open(service)
  end
  local root = client.root(0)
  for _, s in ipairs(st:session_list()) do
    if root and s.path == root then
      return open(s.service)
    end
  end
  local services = st:services()
  if #services == 1 then
    return open(services[1])
  elseif #services == 0 then
    if root then
      return open(vim.fs.basename(root))
    end
    return notify('devspaces: no service has sent logs yet', vim.log.levels.WARN)
  end
  vim.ui.select(services, { prompt = 'Logs of service' }, open)
end

--- Open the list of recent requests.
function M.traces()
  view.show(view.traces_buffer(M.state()))
end

--- Pick a URL of the running services (`devspaces/listUris`), or of one service (its name, or a
--- session of the state), and open it with vim.ui.open.
function M.ports(service, cb)
  local params = vim.empty_dict()
  local root = client.root(0)
  local s = type(service) == 'table' and service or nil
  if not s and service and service ~= '' then
    s = M.state():find_service(service)[1]
    if not s then
      return fail('ports', string.format("no session of a service named '%s'", service))
    end
  end
  if s then
    params = { session = s.session }
    root = s.path
  end
  local c = client.get(root or vim.fn.getcwd()) or client.any()
  if not c then
    return fail('ports', 'no devspaces session in this editor: run :DevSpacesUp first')
  end
  c:request('devspaces/listUris', params, function(err, result)
    if err then
      fail('ports', err)
      return cb and cb(err)
    end
    local uris = result.uris or {}
    if #uris == 0 then
      notify('devspaces: no port forwards', vim.log.levels.WARN)
      return cb and cb(nil, nil)
    end
    vim.ui.select(uris, { prompt = 'Open', format_item = view.uri_text }, function(choice)
      if choice then
        vim.ui.open(choice.url)
      end
      if cb then
        cb(nil, choice)
      end
    end)
  end)
end

--- Show the change class of a file (default: the current buffer's) and the rule that decided it.
function M.classify(file, cb)
  file = (file and file ~= '') and vim.fn.fnamemodify(file, ':p') or vim.api.nvim_buf_get_name(0)
  if file == '' then
    return fail('classify', 'the current buffer has no file name')
  end
  local root = service_root(file)
  if not root then
    return
  end
  file = vim.uv.fs_realpath(file) or file
  call(root, 'classify', 'devspaces/classify', { path = root, paths = { file } }, function(result)
    notify(table.concat(view.classify_lines(result), '\n'))
  end, cb)
end

--- What `devspacesd prep` printed: the files written and the notes (pure, for tests).
function M.prep_outcome(code, stdout, stderr)
  local written, notes = {}, {}
  local lines = vim.split(stdout or '', '\n', { trimempty = true })
  for _, line in ipairs(lines) do
    local file = line:match('^wrote (.+)$') or line:match('^overwrote (.+)$')
    if file then
      written[#written + 1] = file
    end
    local note = line:match('^note: (.+)$')
    if note then
      notes[#notes + 1] = note
    end
  end
  local err = vim.trim((stderr or ''):gsub('^error: ', ''))
  return {
    ok = code == 0,
    summary = lines[1] or '',
    written = written,
    notes = notes,
    error = err,
    needs_force = code ~= 0 and err:find('--force', 1, true) ~= nil and err:find('already exist', 1, true) ~= nil,
  }
end

--- Write a Dockerfile, Dockerfile.develop, Helm chart and azds.yaml for the project in `dir`
--- (default: the current folder) with `devspacesd prep`. `opts`: `enable_ingress`, `force`.
--- When generated files exist and `force` is off, asks whether to overwrite them.
function M.prep(dir, opts, cb)
  opts = opts or {}
  dir = (dir and dir ~= '') and vim.fn.fnamemodify(dir, ':p'):gsub('/$', '') or vim.fn.getcwd()
  local exe, why = config.resolve_daemon()
  if not exe then
    fail('prep', why)
    return cb and cb(why)
  end
  local args = { exe, 'prep', dir }
  if opts.enable_ingress then
    args[#args + 1] = '--enable-ingress'
  end
  if opts.force then
    args[#args + 1] = '--force'
  end
  vim.system(args, { text = true }, function(res)
    vim.schedule(function()
      local o = M.prep_outcome(res.code, res.stdout, res.stderr)
      if o.needs_force then
        vim.ui.select({ 'Overwrite', 'Cancel' }, { prompt = o.error }, function(choice)
          if choice == 'Overwrite' then
            M.prep(dir, vim.tbl_extend('force', opts, { force = true }), cb)
          else
            notify('devspaces: prep: nothing written', vim.log.levels.WARN)
            if cb then
              cb(nil, o)
            end
          end
        end)
        return
      end
      if not o.ok then
        fail('prep', o.error)
        return cb and cb(o.error, o)
      end
      local msg = string.format('devspaces: %s: wrote %s', o.summary, table.concat(o.written, ', '))
      for _, n in ipairs(o.notes) do
        msg = msg .. '\nnote: ' .. n
      end
      notify(msg)
      event('DevSpacesPrep', o)
      if cb then
        cb(nil, o)
      end
    end)
  end)
end

--- The phase of each session for a statusline, `service: phase` ('' when none).
function M.statusline()
  if not M._state then
    return ''
  end
  return view.statusline(M._state)
end

return M
