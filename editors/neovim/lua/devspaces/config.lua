-- Options of the devspaces plugin: defaults, validation and the daemon path they resolve to.
local M = {}

M.defaults = {
  -- The devspacesd binary: this option, else $DEVSPACESD, else `devspacesd` on $PATH.
  daemon_path = nil,
  -- Backend for :DevSpacesUp (`local` or `kubernetes`); nil lets the daemon choose (local).
  backend = nil,
  -- Space for :DevSpacesUp; nil lets the daemon use the selected space.
  space = nil,
  -- How many recent requests :DevSpacesTraces keeps.
  trace_history = 200,
  -- How many log lines are kept per service for :DevSpacesLogs.
  log_history = 5000,
  -- Open the logs buffer of the service after :DevSpacesUp.
  auto_open_logs = false,
}

M.options = vim.deepcopy(M.defaults)

function M.set(opts)
  opts = opts or {}
  vim.validate('daemon_path', opts.daemon_path, 'string', true)
  vim.validate('backend', opts.backend, 'string', true)
  vim.validate('space', opts.space, 'string', true)
  vim.validate('trace_history', opts.trace_history, 'number', true)
  vim.validate('log_history', opts.log_history, 'number', true)
  vim.validate('auto_open_logs', opts.auto_open_logs, 'boolean', true)
  M.options = vim.tbl_extend('force', vim.deepcopy(M.defaults), opts)
  return M.options
end

--- The daemon command as configured, before any lookup on $PATH.
function M.daemon_path()
  local p = M.options.daemon_path
  if p and p ~= '' then
    return p
  end
  local env = vim.env.DEVSPACESD
  if env and env ~= '' then
    return env
  end
  return 'devspacesd'
end

--- The daemon as an executable path, or nil and a message saying what was looked for.
function M.resolve_daemon()
  local p = M.daemon_path()
  local exe = vim.fn.exepath(p)
  if exe ~= '' then
    return exe
  end
  if vim.uv.fs_stat(p) then
    return nil, string.format("devspacesd at '%s' is not executable (chmod +x it, or fix daemon_path / $DEVSPACESD)", p)
  end
  return nil, string.format("devspacesd not found at '%s' (set daemon_path in setup() or $DEVSPACESD)", p)
end

return M
