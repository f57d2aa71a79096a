// Builds the browser app into ui/dist/: index.html, assets/app.js, assets/app.css. Run by
// `npm install` ("prepare") and by hand (`node ui/build.ts`); the node's UI server serves ui/dist.
// Deterministic: fixed file names, no timestamps, no source maps, so the same sources give the
// same bytes. No inline script or style (the server's Content-Security-Policy forbids them).
import { copyFile, mkdir, rm } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const UI = dirname(fileURLToPath(import.meta.url))

export interface UiBuild {
  outDir: string
  files: string[]
}

/** Bundles ui/src/main.tsx (with viem and Preact) and ui/src/app.css into `outDir` (default ui/dist). */
export async function buildUi(outDir = join(UI, 'dist')): Promise<UiBuild> {
  // Loaded here, not at the top: esbuild is a dev dependency, and the launcher below says what to
  // do when an install without dev dependencies runs "prepare".
  const { build } = await import('esbuild')
  await rm(outDir, { recursive: true, force: true })
  await mkdir(join(outDir, 'assets'), { recursive: true })
  const common = { outdir: join(outDir, 'assets'), entryNames: '[name]', bundle: true, minify: true, sourcemap: false, legalComments: 'none', charset: 'utf8', logLevel: 'warning' } as const
  await build({
    ...common,
    entryPoints: { app: join(UI, 'src/main.tsx') },
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    tsconfig: join(UI, 'tsconfig.json'),
    define: { 'process.env.NODE_ENV': '"production"' },
  })
  await build({ ...common, entryPoints: { app: join(UI, 'src/app.css') } })
  await copyFile(join(UI, 'index.html'), join(outDir, 'index.html'))
  return { outDir, files: ['index.html', 'assets/app.js', 'assets/app.css'] }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { outDir } = await buildUi()
    console.log(`MedRec app built into ${outDir}`)
  } catch (err) {
    // An install without dev dependencies (`npm install --omit=dev`) has no esbuild: the node runs,
    // its UI answers 503 until the app is built. Anything else is a real build failure.
    if ((err as { code?: unknown }).code === 'ERR_MODULE_NOT_FOUND' && /esbuild/.test(String(err))) {
      console.warn('MedRec app not built: esbuild (a dev dependency) is not installed; run `npm install` with dev dependencies, then `node ui/build.ts`')
    } else {
      throw err
    }
  }
}
