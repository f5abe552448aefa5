-- Tests that :help devspaces opens doc/devspaces.txt and that its tags and links resolve (tags made with :helptags in a temp dir).
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')

-- Generate the tags beside a copy of the doc, so the work tree gets no tags file.
local tmp = vim.fn.tempname()
vim.fn.mkdir(vim.fs.joinpath(tmp, 'doc'), 'p')
local doc = vim.fs.joinpath(H.plugin_dir, 'doc', 'devspaces.txt')
vim.fn.writefile(vim.fn.readfile(doc), vim.fs.joinpath(tmp, 'doc', 'devspaces.txt'))
vim.opt.runtimepath:prepend(tmp)

H.test(':helptags accepts the doc (no duplicate tags)', function()
  vim.cmd('helptags ' .. vim.fn.fnameescape(vim.fs.joinpath(tmp, 'doc')))
  H.ok(vim.fn.filereadable(vim.fs.joinpath(tmp, 'doc', 'tags')) == 1, 'tags file written')
end)

H.test(':help devspaces opens the doc at its tag', function()
  vim.cmd('help devspaces')
  H.eq('help', vim.bo.buftype, 'a help buffer')
  H.eq('devspaces.txt', vim.fs.basename(vim.api.nvim_buf_get_name(0)), 'the devspaces doc')
  H.ok(vim.api.nvim_get_current_line():find('*devspaces*', 1, true), vim.api.nvim_get_current_line())
  vim.cmd('helpclose')
end)

H.test('every command, option and |link| of the doc has a help target', function()
  local want = {
    ':DevSpacesUp', ':DevSpacesDown', ':DevSpacesRestart', ':DevSpacesLogs', ':DevSpacesTraces', ':DevSpacesPorts',
    ':DevSpacesClassify', ':DevSpacesPrep', ':DevSpacesStatus', 'devspaces-setup', 'devspaces.statusline()', 'devspaces-health',
    'devspaces-several', 'devspaces-status', ':DevSpacesDebug', 'devspaces-debug',
  }
  for opt in pairs(require('devspaces.config').defaults) do
    want[#want + 1] = 'devspaces-option-' .. opt
  end
  for _, line in ipairs(vim.fn.readfile(doc)) do
    for link in line:gmatch('|([^| ]+)|') do
      want[#want + 1] = link
    end
  end
  for _, tag in ipairs(want) do
    local ok, err = pcall(vim.cmd.help, tag)
    H.ok(ok, string.format('help %s: %s', tag, tostring(err)))
  end
  vim.cmd('helpclose')
end)

H.done()
