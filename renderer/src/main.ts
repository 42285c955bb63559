// Entry point: choose the API (Electron preload, dashboard WebSocket, or the built-in fake for
// development and the performance bench), start the session, mount the app.
import { mount } from 'svelte'
import App from './App.svelte'
import { api, setApi } from './lib/api.js'
import { AppState } from './lib/app.svelte.js'
import './app.css'

const params = new URLSearchParams(location.search)
if (params.has('fake')) {
  const { createFakeApi } = await import('./lib/fake-api.js')
  const fake = createFakeApi({ members: Number(params.get('members') ?? 200), events: Number(params.get('events') ?? 10_000), live: params.get('live') !== '0' })
  setApi(fake)
}
const app = new AppState(api)
void app.start()
mount(App, { target: document.getElementById('app')!, props: { app } })
