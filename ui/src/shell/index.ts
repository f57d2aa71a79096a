// The shell's face for screens: the props they get and the app itself.
export { App } from './app.tsx'
export type { BrowserSession, NodeSession, Role, ScreenProps, Session, SigningRequest } from './types.ts'
