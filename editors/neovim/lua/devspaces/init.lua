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

--- Start or attach to the session of the service around `path` (default: the current buffer).
function M.up(path, cb)
  local root = service_root(path)
  if not root then
    return
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
    M.state():apply_session(result)
    notify(string.format('devspaces: %s %s (session %s)', result.service, result.attached and 'attached' or 'started', result.session))
    for _, buf in ipairs(vim.api.nvim_list_bufs()) do
      if vim.api.nvim_buf_is_loaded(buf) then
        client.attach_config_buffer(buf)
      end
    end
    if config.options.auto_open_logs then
      M.logs(result.service)
    end
    event('DevSpacesUp', result)
  end, cb)
end

--- Stop the session of the service around `path`.
function M.down(path, cb)
  local root = service_root(path)
  if not root then
    return
  end
  call(root, 'down', 'devspaces/down', target(root), function(result)
    if result.outcome == 'stopped' then
      M.state():apply_session({ session = result.session, service = result.service, phase = 'stopped' })
    end
    notify(string.format('devspaces: %s %s', result.service, result.outcome))
    event('DevSpacesDown', result)
  end, cb)
end

--- Restart the session of the current buffer's service: `kind` is `process` (default) or `redeploy`.
function M.restart(kind, cb)
  local root = service_root()
  if not root then
    return
  end
  local params = target(root)
  params.kind = (kind and kind ~= '') and kind or 'process'
  call(root, 'restart', 'devspaces/restart', params, function(result)
    M.state():apply_session({ session = result.session, service = result.service, phase = result.phase })
    notify(string.format('devspaces: %s %s restart: %s', result.service, result.kind, result.phase))
  end, cb)
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

--- Pick a URL of a running service (`devspaces/listUris`) and open it with vim.ui.open.
function M.ports(cb)
  local c = client.get(client.root(0) or '') or client.any()
  if not c then
    return fail('ports', 'no devspaces session in this editor: run :DevSpacesUp first')
  end
  c:request('devspaces/listUris', vim.empty_dict(), function(err, result)
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
