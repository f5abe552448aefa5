-- Debugging through nvim-dap: adapter and configuration entries, and :DevSpacesDebug, which attaches
-- at each devspaces/debugReady of a session the user debugs (again after every restart).
--
-- The daemon decides everything (how the app runs under its debugger, the forward, the path
-- mappings); this module only turns a debugReady into an nvim-dap configuration and runs it.
local M = {}

--- The nvim-dap adapter each debug server kind is reached through. Python (debugpy), Go (Delve)
--- and .NET (netcoredbg) speak DAP on the forwarded port: a `server` adapter of ours. Node.js's
--- inspector speaks the Chrome DevTools Protocol: js-debug's `pwa-node` adapter (set up by the
--- user) attaches to it. Java's JDWP is not DAP (nvim-jdtls attaches to it): no entry.
M.adapters = {
  python = 'devspaces_python',
  node = 'pwa-node',
  go = 'devspaces_go',
  dotnet = 'devspaces_dotnet',
}

--- The filetypes whose dap.configurations get a devspaces entry, per debug server kind.
M.filetypes = {
  python = { 'python' },
  node = { 'javascript', 'typescript' },
  go = { 'go' },
  dotnet = { 'cs' },
}

--- The name of the dap.configurations entries this plugin adds.
M.entry_name = 'devspaces: attach to the service'

--- The nvim-dap configuration that attaches to the debug server a debugReady describes (pure).
--- Returns nil and why for a kind nvim-dap cannot attach to through this plugin.
function M.configuration(ready, name)
  name = name or ('devspaces: ' .. tostring(ready.service))
  local maps = ready.pathMappings or {}
  local first = maps[1] or {}
  local base = { request = 'attach', name = name, devspaces_session = ready.session, type = M.adapters[ready.adapter] }
  if ready.adapter == 'python' then
    base.connect = { host = ready.host, port = ready.port }
    base.pathMappings = vim.tbl_map(function(m)
      return { localRoot = m.localRoot, remoteRoot = m.remoteRoot }
    end, maps)
    base.justMyCode = false
  elseif ready.adapter == 'node' then
    base.address, base.port = ready.host, ready.port
    base.localRoot, base.remoteRoot = first.localRoot, first.remoteRoot
  elseif ready.adapter == 'go' then
    base.mode = 'remote'
    base.host, base.port = ready.host, ready.port
    base.substitutePath = vim.tbl_map(function(m)
      return { from = m.localRoot, to = m.remoteRoot }
    end, maps)
  elseif ready.adapter == 'dotnet' then
    base.host, base.port = ready.host, ready.port
    base.sourceFileMap = {}
    for _, m in ipairs(maps) do
      base.sourceFileMap[m.remoteRoot] = m.localRoot
    end
  else
    return nil, string.format('nvim-dap cannot attach to a %s debug server through devspaces (JDWP: use nvim-jdtls on %s:%s)',
      tostring(ready.adapter), tostring(ready.host), tostring(ready.port))
  end
  return base
end

-- The latest debugReady of the service a dap.configurations entry is about: the current buffer's
-- service, else the only session with a debug server. Errors (nvim-dap shows them) when none.
local function current_ready(adapter)
  local ds = require('devspaces')
  local root = require('devspaces.client').root(0)
  local candidates = {}
  for _, s in ipairs(ds.state():live_sessions()) do
    if s.debug and s.debug.adapter == adapter then
      if root and s.path == root then
        return s.debug
      end
      candidates[#candidates + 1] = s.debug
    end
  end
  if #candidates == 1 then
    return candidates[1]
  end
  error(#candidates == 0 and 'devspaces: no service runs under its debugger: run :DevSpacesDebug first'
    or 'devspaces: several services run under their debugger: use :DevSpacesDebug {service}', 0)
end

-- A `server` adapter at the host and port of the configuration (our configurations carry them).
local function server_adapter(cb, config)
  local host = config.connect and config.connect.host or config.host
  local port = config.connect and config.connect.port or config.port
  cb({ type = 'server', host = host, port = port })
end

--- Register the adapters and the dap.configurations entries with nvim-dap when it is installed
--- (again is harmless). Returns the dap module, or nil when nvim-dap is not installed.
function M.register()
  local ok, dap = pcall(require, 'dap')
  if not ok or type(dap) ~= 'table' then
    return nil
  end
  dap.adapters = dap.adapters or {}
  dap.configurations = dap.configurations or {}
  for _, name in ipairs({ 'devspaces_python', 'devspaces_go', 'devspaces_dotnet' }) do
    dap.adapters[name] = server_adapter
  end
  for adapter, fts in pairs(M.filetypes) do
    for _, ft in ipairs(fts) do
      local list = dap.configurations[ft] or {}
      dap.configurations[ft] = list
      local present = vim.iter(list):any(function(c)
        return c.name == M.entry_name
      end)
      if not present then
        -- Each value is read when the entry runs: from the latest debugReady, so after a restart too;
        -- the session it names is then debugged, attached again after each restart.
        local entry = { type = M.adapters[adapter], request = 'attach', name = M.entry_name }
        local sample = M.configuration({
          adapter = adapter,
          session = '',
          host = '',
          port = 0,
          pathMappings = { { localRoot = '', remoteRoot = '' } },
        })
        for key in pairs(sample) do
          if entry[key] == nil then
            entry[key] = function()
              local ready = current_ready(adapter)
              if key == 'devspaces_session' then
                M.want(ready.session)
                M.take(ready)
              end
              return M.configuration(ready)[key]
            end
          end
        end
        table.insert(list, entry)
      end
    end
  end
  M._listen(dap)
  return dap
end

-- Sessions the user debugs: session ID -> the `restarts` last attached (-1: none yet).
M.wanted = {}
-- nvim-dap sessions of ours whose debuggee went away (terminated) before any disconnect.
local gone = {}

--- The user debugs this session: attach at each new debugReady until they stop.
function M.want(session)
  if M.wanted[session] == nil then
    M.wanted[session] = -1
  end
end

--- Whether this debugReady should start an attach now; when it should, it counts as attached.
function M.take(ready)
  local last = M.wanted[ready.session]
  if last == nil or (ready.restarts or 0) <= last then
    return false
  end
  M.wanted[ready.session] = ready.restarts or 0
  return true
end

-- nvim-dap's listeners tell the user's stop (a disconnect or terminate request before the
-- debuggee said terminated) from a debug server that went away with a restart.
function M._listen(dap)
  if not dap.listeners or M._listening == dap then
    return
  end
  M._listening = dap
  local function ours(session)
    return session and session.config and session.config.devspaces_session
  end
  local function user_stop(session)
    local id = ours(session)
    if id and not gone[session] then
      M.wanted[id] = nil
    end
  end
  dap.listeners.before.event_terminated = dap.listeners.before.event_terminated or {}
  dap.listeners.before.event_terminated.devspaces = function(session)
    if ours(session) then
      gone[session] = true
    end
  end
  dap.listeners.before.disconnect = dap.listeners.before.disconnect or {}
  dap.listeners.before.disconnect.devspaces = user_stop
  dap.listeners.before.terminate = dap.listeners.before.terminate or {}
  dap.listeners.before.terminate.devspaces = user_stop
end

--- Attach nvim-dap to the debug server a debugReady describes.
function M.attach(ready)
  local dap = M.register()
  if not dap then
    vim.notify(string.format('devspaces: %s: debugger (%s) ready on %s:%s; install nvim-dap to attach from Neovim', ready.service,
      ready.adapter, ready.host, tostring(ready.port)), vim.log.levels.WARN)
    return
  end
  local config, why = M.configuration(ready)
  if not config then
    vim.notify('devspaces: ' .. why, vim.log.levels.WARN)
    return
  end
  if config.type == 'pwa-node' and not dap.adapters['pwa-node'] then
    vim.notify('devspaces: attaching to the Node.js inspector needs js-debug as the nvim-dap adapter "pwa-node"', vim.log.levels.ERROR)
    return
  end
  dap.run(config)
end

--- A debugReady arrived (the state's listener): attach when the session is debugged and it is new.
function M.on_ready(ready)
  if M.take(ready) then
    vim.schedule(function()
      M.attach(ready)
    end)
  end
end

return M
