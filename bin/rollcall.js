#!/usr/bin/env node
// Entry point of the `rollcall` command. Runs the TypeScript sources through tsx's loader, so a
// checkout works right after `npm install` with no build step.
import { register } from 'tsx/esm/api'

register()
await import('../core/cli/main.ts')
