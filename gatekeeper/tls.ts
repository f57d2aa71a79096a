import { createHash, createPrivateKey, webcrypto, X509Certificate, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { isIP } from 'node:net'
import { join } from 'node:path'
import type * as X509 from '@peculiar/x509'
import type { Hex } from 'viem'
import { createLogger, errorMessage } from '../common/index.ts'
import { GatekeeperError, GatekeeperErrorCode } from './errors.ts'

const log = createLogger('gatekeeper:tls')

/** The development certificate lasts this long: long enough never to surprise a developer, renewed when it does run out. */
const DEV_VALIDITY_DAYS = 3650
const DAY_MS = 86_400_000

/** What the HTTPS server presents, and what the Registrar entry publishes for requesters to pin. */
export interface TlsCredentials {
  /** PEM: the certificate, followed by any intermediates the operator's file holds. */
  cert: string
  /** PEM private key of the certificate. */
  key: string
  /** SHA-256 of the leaf certificate's DER, as 0x-hex. */
  fingerprint: Hex
  notAfter: Date
  /** The operator's files, or the self-signed development certificate in DIR/tls/. */
  source: 'supplied' | 'generated'
}

/** SHA-256 of a certificate's DER as 0x-hex: the form the Registrar entry holds. */
export function certFingerprint(der: Uint8Array): Hex {
  return `0x${createHash('sha256').update(der).digest('hex')}`
}

/**
 * The operator's certificate and key (`--gatekeeper.tls.cert/.key`), checked so that a wrong
 * file stops the start with the reason instead of failing every handshake later.
 */
export function loadSuppliedTls(paths: { cert: string; key: string }, now = Date.now()): TlsCredentials {
  const certPem = readPem(paths.cert, '--gatekeeper.tls.cert', 'certificate')
  const keyPem = readPem(paths.key, '--gatekeeper.tls.key', 'private key')
  const cert = parseCert(certPem, `${paths.cert} (--gatekeeper.tls.cert)`, 'pass the PEM certificate file (BEGIN CERTIFICATE)')
  const key = parseKey(keyPem, `${paths.key} (--gatekeeper.tls.key)`)
  if (!cert.checkPrivateKey(key)) throw tlsError(`the key ${paths.key} does not belong to the certificate ${paths.cert} (its public key differs): pass the key the certificate was issued for`, paths)
  const validTo = new Date(cert.validTo)
  if (validTo.getTime() <= now) throw tlsError(`the certificate ${paths.cert} expired on ${validTo.toISOString()}: renew it with its issuer (or omit --gatekeeper.tls.cert/.key for a self-signed development certificate)`, paths)
  const validFrom = new Date(cert.validFrom)
  if (validFrom.getTime() > now) throw tlsError(`the certificate ${paths.cert} is not valid before ${validFrom.toISOString()}: check this machine's clock, or use a certificate valid now`, paths)
  return { cert: certPem, key: keyPem, fingerprint: certFingerprint(cert.raw), notAfter: validTo, source: 'supplied' }
}

/**
 * The self-signed development certificate in `dir`/tls/ (cert.pem, key.pem, 0600), made at the
 * first start: ECDSA P-256, names localhost, 127.0.0.1, ::1 and `hosts` (the listen address and
 * the public URL's host). Made anew, with a warning, when it expired or lacks one of `hosts`; the
 * gatekeeper then republishes the new fingerprint. Requesters pin it by that fingerprint, so no CA
 * is involved. Files that exist but do not parse or do not pair stop the start.
 */
export async function loadOrCreateDevTls(dir: string, hosts: readonly string[], now = Date.now()): Promise<TlsCredentials> {
  const tlsDir = join(dir, 'tls')
  const certPath = join(tlsDir, 'cert.pem')
  const keyPath = join(tlsDir, 'key.pem')
  const names = sanNames(hosts)
  if (existsSync(certPath) && existsSync(keyPath)) {
    const fix = `delete ${tlsDir} and start again to make a new development certificate (the gatekeeper republishes its fingerprint)`
    const certPem = readFileSync(certPath, 'utf8')
    const keyPem = readFileSync(keyPath, 'utf8')
    const cert = parseCert(certPem, certPath, fix)
    const key = parseKey(keyPem, keyPath, fix)
    if (!cert.checkPrivateKey(key)) throw tlsError(`${keyPath} does not belong to ${certPath}: ${fix}`, { cert: certPath, key: keyPath })
    const validTo = new Date(cert.validTo)
    const missing = names.filter((n) => (isIP(n) === 0 ? cert.checkHost(n) === undefined : cert.checkIP(n) === undefined))
    if (validTo.getTime() > now && missing.length === 0) return { cert: certPem, key: keyPem, fingerprint: certFingerprint(cert.raw), notAfter: validTo, source: 'generated' }
    if (validTo.getTime() <= now) log.warn('The development TLS certificate expired: making a new one (its fingerprint is republished in the Registrar)', { path: certPath, expired: validTo.toISOString() })
    else log.info('The development TLS certificate does not name every configured host: making a new one', { path: certPath, missing })
  }
  const made = await createSelfSigned(names, now - 3_600_000, now + DEV_VALIDITY_DAYS * DAY_MS)
  mkdirSync(tlsDir, { recursive: true, mode: 0o700 })
  writePrivate(keyPath, made.key)
  writePrivate(certPath, made.cert)
  const cert = new X509Certificate(made.cert)
  log.info('Made a self-signed development TLS certificate for the gatekeeper HTTP API', { path: certPath, fingerprint: certFingerprint(cert.raw), names })
  return { cert: made.cert, key: made.key, fingerprint: certFingerprint(cert.raw), notAfter: new Date(cert.validTo), source: 'generated' }
}

/** A self-signed ECDSA P-256 server certificate for `names` (DNS names and IP addresses), valid from `notBefore` to `notAfter` (ms). */
export async function createSelfSigned(names: readonly string[], notBefore: number, notAfter: number): Promise<{ cert: string; key: string }> {
  // Loaded here only: the generator is needed at the first start, never by a CLI call.
  // @peculiar/x509's dependency injection (tsyringe) needs the Reflect metadata API at load.
  await import('reflect-metadata')
  const x509 = await import('@peculiar/x509')
  const crypto = webcrypto as unknown as NonNullable<Parameters<typeof X509.X509CertificateGenerator.createSelfSigned>[1]>
  const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' }
  const keys = await crypto.subtle.generateKey(alg, true, ['sign', 'verify'])
  const serial = crypto.getRandomValues(new Uint8Array(16))
  serial[0] = serial[0]! & 0x7f // a positive serial number
  const cert = await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: Buffer.from(serial).toString('hex'),
      name: 'CN=MedRec gatekeeper (development)',
      notBefore: new Date(notBefore),
      notAfter: new Date(notAfter),
      keys,
      signingAlgorithm: alg,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names.map((n) => (isIP(n) === 0 ? { type: 'dns' as const, value: n } : { type: 'ip' as const, value: n }))),
        await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, false, crypto),
      ],
    },
    crypto,
  )
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey)
  return { cert: cert.toString('pem') + '\n', key: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY') + '\n' }
}

/** localhost and the loopback addresses, plus the configured hosts (the unspecified addresses name no host). */
function sanNames(hosts: readonly string[]): string[] {
  const out = ['localhost', '127.0.0.1', '::1']
  for (const raw of hosts) {
    const h = raw.replace(/^\[|\]$/g, '').toLowerCase()
    if (h === '' || h === '0.0.0.0' || h === '::' || out.includes(h)) continue
    out.push(h)
  }
  return out
}

function readPem(path: string, flag: string, what: string): string {
  try {
    return readFileSync(path, 'utf8')
  } catch (err) {
    throw tlsError(`cannot read the TLS ${what} ${path} (${flag}): ${errorMessage(err)}: pass a readable PEM file`, { path }, err)
  }
}

function parseCert(pem: string, where: string, fix: string): X509Certificate {
  try {
    return new X509Certificate(pem)
  } catch (err) {
    throw tlsError(`${where} is not a PEM certificate (${errorMessage(err)}): ${fix}`, { path: where }, err)
  }
}

function parseKey(pem: string, where: string, fix = 'pass its unencrypted PEM private key (BEGIN PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY)'): KeyObject {
  if (/ENCRYPTED/.test(pem)) throw tlsError(`${where} is an encrypted private key, which the gatekeeper cannot unlock at start: decrypt it (openssl pkey -in KEY -out KEY.plain) and keep the copy 0600`, { path: where })
  try {
    return createPrivateKey(pem)
  } catch (err) {
    throw tlsError(`${where} is not a PEM private key (${errorMessage(err)}): ${fix}`, { path: where }, err)
  }
}

/** Written whole or not at all, readable by the owner only. */
function writePrivate(path: string, text: string): void {
  const tmp = `${path}.tmp`
  writeFileSync(tmp, text, { mode: 0o600 })
  renameSync(tmp, path)
}

function tlsError(message: string, context: Record<string, unknown>, cause?: unknown): GatekeeperError {
  return new GatekeeperError(GatekeeperErrorCode.TLS_CONFIG, message, context, cause)
}
