// Electron entry point (bundled to dist/electron/main.js by build/build-electron.mjs).
import { app } from 'electron'
import { defaultLog as log, registerScheme, runApp } from './app.js'

if (!app.requestSingleInstanceLock()) {
  // A second copy would fight over the data dir's agent lock: focus the first instead.
  app.quit()
} else {
  registerScheme()
  runApp().catch((err) => {
    log('warn', 'the app failed to start', { error: (err as Error).stack ?? String(err) })
    app.exit(1)
  })
}
