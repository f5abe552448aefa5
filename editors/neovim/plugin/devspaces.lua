-- Defines the :DevSpaces* user commands and attaches azds.yaml buffers to the daemon for diagnostics.
if vim.g.loaded_devspaces then
  return
end
vim.g.loaded_devspaces = true

local function ds()
  return require('devspaces')
end

local cmd = vim.api.nvim_create_user_command

-- A service's name (of the sessions this editor knows) or a folder.
local function service_or_dir(lead)
  local items = vim.tbl_filter(function(name)
    return vim.startswith(name, lead)
  end, ds().state():services())
  vim.list_extend(items, vim.fn.getcompletion(lead, 'dir'))
  return items
end

cmd('DevSpacesUp', function(a)
  ds().up(a.args)
end, {
  nargs = '?',
  complete = 'dir',
  desc = 'devspaces: start or attach to the session of this service, or of every service in this folder',
})

cmd('DevSpacesDown', function(a)
  ds().down(a.args, nil, a.bang)
end, {
  nargs = '?',
  bang = true,
  complete = service_or_dir,
  desc = 'devspaces: stop the session of a service (a name or a folder; ! every session)',
})

cmd('DevSpacesRestart', function(a)
  local kind, arg = nil, nil
  for _, x in ipairs(a.fargs) do
    if x == 'process' or x == 'redeploy' then
      kind = x
    else
      arg = x
    end
  end
  ds().restart(kind, arg, nil, a.bang)
end, {
  nargs = '*',
  bang = true,
  complete = function(lead)
    local items = vim.tbl_filter(function(k)
      return vim.startswith(k, lead)
    end, { 'process', 'redeploy' })
    return vim.list_extend(items, service_or_dir(lead))
  end,
  desc = 'devspaces: restart the app (process) or build and deploy again (redeploy); ! every session',
})

cmd('DevSpacesStatus', function()
  ds().status()
end, { desc = 'devspaces: every service with its phase, URLs, forwards and recent requests' })

cmd('DevSpacesLogs', function(a)
  ds().logs(a.args)
end, {
  nargs = '?',
  complete = function()
    return ds().state():services()
  end,
  desc = 'devspaces: the logs of a service, following new lines',
})

cmd('DevSpacesTraces', function()
  ds().traces()
end, { desc = 'devspaces: recent HTTP requests seen by the port forwards' })

cmd('DevSpacesPorts', function(a)
  ds().ports(a.args)
end, {
  nargs = '?',
  complete = function()
    return ds().state():services()
  end,
  desc = 'devspaces: open a port forward (of every service, or of one) in the browser',
})

cmd('DevSpacesDebug', function(a)
  ds().debug(a.args)
end, {
  nargs = '?',
  complete = service_or_dir,
  desc = 'devspaces: run a service under its debugger and attach nvim-dap, again after each restart',
})

cmd('DevSpacesClassify', function(a)
  ds().classify(a.args)
end, { nargs = '?', complete = 'file', desc = 'devspaces: the change class of this file' })

cmd('DevSpacesPrep', function(a)
  local dir, opts = nil, { force = a.bang }
  for _, arg in ipairs(a.fargs) do
    if arg == '--enable-ingress' then
      opts.enable_ingress = true
    elseif arg == '--force' then
      opts.force = true
    else
      dir = arg
    end
  end
  ds().prep(dir, opts)
end, {
  nargs = '*',
  bang = true,
  complete = function(lead)
    local items = vim.fn.getcompletion(lead, 'dir')
    if ('--enable-ingress'):find(lead, 1, true) == 1 then
      table.insert(items, 1, '--enable-ingress')
    end
    return items
  end,
  desc = 'devspaces: write a Dockerfile, Helm chart and azds.yaml for this project (! overwrites)',
})

-- nvim-dap's adapter and configuration entries, when it is installed.
require('devspaces.debug').register()

vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile' }, {
  group = vim.api.nvim_create_augroup('devspaces', { clear = true }),
  pattern = 'azds.yaml',
  callback = function(ev)
    require('devspaces.client').attach_config_buffer(ev.buf)
  end,
})
