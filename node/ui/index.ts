// Public face of node/ui/: the MedRec app's origin (`medrec start --ui`): the server, its
// in-memory key figures, and the sign-in codes (signin.ts is also a light face of its own for
// the CLI: it loads no server).
export * from './errors.ts'
export * from './signin.ts'
export { UI_APIS, createUiServer, type UiIdentity, type UiRole, type UiServer, type UiServerModules, type UiServerOptions } from './server.ts'
export { createMetricsSampler, METRICS_INTERVAL_MS, METRICS_WINDOW_MS, type MetricsLevels, type MetricsSample, type MetricsSampler } from './metrics-sampler.ts'
export { CSP, SECURITY_HEADERS } from './headers.ts'
export { DEFAULT_ASSETS_DIR } from './static.ts'
