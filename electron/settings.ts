// The desktop app's settings file (<userData>/settings.json, mode 0600), validated with the
// contract's validator on load and on save, written atomically.

import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { validateSettings, type Settings } from '../core/contract.js'

export const SETTINGS_FILE = 'settings.json'

export function defaultSettings(): Settings {
  return { name: os.hostname().slice(0, 64) || 'rollcall', group: 'default', groupKeyFile: '', bootstrap: [], mdnsInterface: '', autoJoin: true }
}

/** The saved settings, or the defaults (with the reason) when the file is missing or invalid. */
export function loadSettings(dir: string): { settings: Settings; problem?: string } {
  const file = path.join(dir, SETTINGS_FILE)
  let text: string
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { settings: defaultSettings() }
    return { settings: defaultSettings(), problem: `cannot read ${file}: ${(err as Error).message}` }
  }
  try {
    return { settings: validateSettings({ ...defaultSettings(), ...JSON.parse(text) }) }
  } catch (err) {
    return { settings: defaultSettings(), problem: `${file} is invalid (${(err as Error).message}); using defaults` }
  }
}

export function saveSettings(dir: string, s: Settings): Settings {
  const valid = validateSettings(s)
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
  const file = path.join(dir, SETTINGS_FILE)
  const tmp = `${file}.${process.pid}.tmp`
  fs.writeFileSync(tmp, JSON.stringify(valid, null, 2) + '\n', { mode: 0o600 })
  fs.renameSync(tmp, file)
  return valid
}

/** The node options the settings stand for. */
export function nodeOptionsFrom(s: Settings): { name: string; group: string; groupKeyFile?: string; bootstrap: string[]; mdns: boolean | { interface: string } } {
  return {
    name: s.name, group: s.group, bootstrap: s.bootstrap,
    ...(s.groupKeyFile ? { groupKeyFile: s.groupKeyFile } : {}),
    mdns: s.mdnsInterface === 'off' ? false : s.mdnsInterface ? { interface: s.mdnsInterface } : true,
  }
}
