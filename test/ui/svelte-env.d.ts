// For the root typecheck (tsc): Svelte's rune declarations ($state, $derived…) used by the
// renderer's .svelte.ts state classes, and .svelte component imports in tests.
/// <reference types="svelte" />
declare module '*.svelte' {
  import type { Component } from 'svelte'
  const component: Component<any>
  export default component
}
