-- Tests :DevSpacesPrep against a stand-in devspacesd that records its arguments: flags, output read back, and overwrite asked.
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')

local ds = require('devspaces')
local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp, 'p')
local project = vim.fs.joinpath(tmp, 'shop')
vim.fn.mkdir(project, 'p')
local args_file = vim.fs.joinpath(tmp, 'args')

-- Like devspacesd prep: refuses when azds.yaml exists unless --force, else writes it and says so.
local fake = vim.fs.joinpath(tmp, 'devspacesd')
vim.fn.writefile({
  '#!/bin/sh',
  'echo "$@" >> ' .. vim.fn.shellescape(args_file),
  'dir=$2',
  'case " $* " in *" --force "*) force=1 ;; *) force=0 ;; esac',
  'if [ -f "$dir/azds.yaml" ] && [ $force = 0 ]; then',
  '  echo "error: $dir: azds.yaml already exists; prep overwrites only with --force (nothing was written)" >&2',
  '  exit 1',
  'fi',
  'touch "$dir/azds.yaml"',
  'echo "$dir: Node.js project (package.json), service \'shop\'"',
  'echo "wrote Dockerfile"',
  'echo "wrote azds.yaml"',
  'echo "note: no entry point found: the command runs server.js"',
  'echo "next: devspacesd up $dir"',
}, fake)
vim.uv.fs_chmod(fake, 493)
ds.setup({ daemon_path = fake })

local function recorded()
  return vim.fn.filereadable(args_file) == 1 and vim.fn.readfile(args_file) or {}
end

local function prep(dir, opts)
  local done, got = false, nil
  ds.prep(dir, opts, function(err, o)
    done, got = true, { err = err, outcome = o }
  end)
  H.wait(5000, function()
    return done
  end, 'prep to finish')
  return got
end

H.test('prep runs devspacesd prep on the folder and reports what it wrote', function()
  local notes, restore = H.capture_notify()
  local fired
  vim.api.nvim_create_autocmd('User', {
    pattern = 'DevSpacesPrep',
    once = true,
    callback = function(ev)
      fired = ev.data
    end,
  })
  local got = prep(project, { enable_ingress = true })
  restore()
  H.eq(nil, got.err, 'no error')
  H.eq({ 'prep ' .. project .. ' --enable-ingress' }, recorded(), 'arguments')
  H.eq({ 'Dockerfile', 'azds.yaml' }, got.outcome.written, 'files written')
  H.ok(notes[1] and notes[1].msg:find('wrote Dockerfile, azds.yaml', 1, true), vim.inspect(notes))
  H.ok(notes[1].msg:find('no entry point found', 1, true), 'the note is shown')
  H.eq({ 'Dockerfile', 'azds.yaml' }, fired and fired.written, 'User DevSpacesPrep carries the outcome')
end)

H.test('when files exist it asks, and overwrites only when told to', function()
  vim.fn.delete(args_file)
  local orig = vim.ui.select
  local asked
  vim.ui.select = function(_, o, on_choice)
    asked = o.prompt
    on_choice('Cancel')
  end
  local notes, restore = H.capture_notify()
  local got = prep(project, {})
  H.ok(asked and asked:find('already exists', 1, true), 'the refusal is the question: ' .. tostring(asked))
  H.eq({ 'prep ' .. project }, recorded(), 'no second run after Cancel')
  H.ok(got.outcome.needs_force, 'needs --force')
  H.ok(notes[1].msg:find('nothing written', 1, true), vim.inspect(notes))
  vim.ui.select = function(_, _, on_choice)
    on_choice('Overwrite')
  end
  vim.fn.delete(args_file)
  got = prep(project, {})
  vim.ui.select = orig
  restore()
  H.eq({ 'prep ' .. project, 'prep ' .. project .. ' --force' }, recorded(), 'rerun with --force')
  H.eq(nil, got.err, 'overwritten')
end)

H.test(':DevSpacesPrep! passes --force and the flags', function()
  vim.fn.delete(args_file)
  local _, restore = H.capture_notify()
  vim.cmd('DevSpacesPrep! --enable-ingress ' .. vim.fn.fnameescape(project))
  H.wait(5000, function()
    return #recorded() == 1
  end, 'the command to run devspacesd')
  restore()
  H.eq({ 'prep ' .. project .. ' --enable-ingress --force' }, recorded(), 'arguments')
end)

H.test('prep_outcome reads a refusal and a failure apart', function()
  local refused = ds.prep_outcome(1, '', 'error: /w: azds.yaml already exists; prep overwrites only with --force (nothing was written)\n')
  H.ok(refused.needs_force and not refused.ok, vim.inspect(refused))
  local none = ds.prep_outcome(1, '', 'error: /w: no project file found (looked for package.json)\n')
  H.ok(not none.needs_force, vim.inspect(none))
  H.eq('/w: no project file found (looked for package.json)', none.error, 'error text')
end)

H.done()
