/**
 * The headers every UI response carries: a strict Content-Security-Policy (the app has no inline
 * script or style and loads nothing from elsewhere), no MIME sniffing, no Referer (sign-in codes
 * live in the fragment, never sent anyway), its own browsing context group, its resources
 * readable by its own origin only, and no framing. No CORS header is ever sent: the app is
 * same-origin only.
 */
export const CSP = [
  "default-src 'none'",
  // viem's and @noble's hashing may compile WebAssembly; no eval of strings.
  "script-src 'self' 'wasm-unsafe-eval'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ')

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CSP,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // Older browsers that ignore frame-ancestors.
  'X-Frame-Options': 'DENY',
}
