-- Defines the :DevSpaces* user commands and attaches azds.yaml buffers to the daemon for diagnostics.
if vim.g.loaded_devspaces then
  return
end
vim.g.loaded_devspaces = true

local function ds()
  return require('devspaces')
end

local cmd = vim.api.nvim_create_user_command

cmd('DevSpacesUp', function(a)
  ds().up(a.args)
end, { nargs = '?', complete = 'dir', desc = 'devspaces: start or attach to the session of this service' })

cmd('DevSpacesDown', function(a)
  ds().down(a.args)
end, { nargs = '?', complete = 'dir', desc = 'devspaces: stop the session of this service' })

cmd('DevSpacesRestart', function(a)
  ds().restart(a.args)
end, {
  nargs = '?',
  complete = function()
    return { 'process', 'redeploy' }
  end,
  desc = 'devspaces: restart the app (process) or build and deploy again (redeploy)',
})

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

cmd('DevSpacesPorts', function()
  ds().ports()
end, { desc = 'devspaces: open a port forward in the browser' })

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

vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile' }, {
  group = vim.api.nvim_create_augroup('devspaces', { clear = true }),
  pattern = 'azds.yaml',
  callback = function(ev)
    require('devspaces.client').attach_config_buffer(ev.buf)
  end,
})
