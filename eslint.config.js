// The linter gates bugs the type checker lets through, nothing stylistic: every rule below names
// the failure it prevents in this codebase. tsc (strict, noFallthroughCasesInSwitch,
// verbatimModuleSyntax) already covers switch fall-through and type-only imports, so those rules
// are not repeated here. Rules that need types run through typescript-eslint's project service
// (the same tsconfig.json that `npm run typecheck` uses).
import { defineConfig } from 'eslint/config'
import tseslint from 'typescript-eslint'

export default defineConfig(
  { ignores: ['node_modules/', '.tap/', '.medrec-dev/', '.bench-cache/', 'ui/dist/'] },
  {
    // ui/src/ is TSX (Preact) checked against ui/tsconfig.json (DOM, no Node types): the project
    // service finds the nearest tsconfig for each file.
    files: ['**/*.ts', '**/*.tsx'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // A promise nobody awaits or catches turns a failed write, send or import into an
      // unhandledRejection that kills the process (Node's default), or into silent loss.
      // An intentional fire-and-forget says so with `void` and handles its own errors.
      // tap's `t.test()` is exempt by its type: tap queues subtests and awaits them itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafePromises: [{ from: 'package', name: 'PromiseWithSubtest', package: '@tapjs/core' }] },
      ],
      // An async function passed where a void callback is expected (EventEmitter listeners,
      // timers, libp2p and HTTP handlers) rejects into nowhere, and two of them on the same
      // event interleave at their awaits; a promise in an `if` is always true.
      '@typescript-eslint/no-misused-promises': 'error',
      // `await` on a value that is not a thenable is a misunderstanding of the callee's API
      // (usually a sync function that used to be async, or a missing call parentheses).
      // `Promise.all` over `T | Promise<T>` (validators that may answer synchronously,
      // `node?.kill()`) is fine; an array with no promise at all is not.
      '@typescript-eslint/await-thenable': ['error', { allowMixedPromiseArrays: true }],
      // `return p` inside try/catch/finally without `await` lets p's rejection escape the catch
      // and runs the finally (closing a database, releasing a lock) before p settles.
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      // Throwing or rejecting with a non-Error loses the stack and defeats the coded errors
      // (`CodedError`) that callers test.
      // Passing on a caught `unknown` (or an AbortSignal's reason) is allowed, as tsc's own
      // `catch (err)` typing forces.
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingAny: true, allowThrowingUnknown: true }],
      // The project's rule: no `any` across module boundaries. `unknown` plus a check, or a
      // named type, says what the value is.
      '@typescript-eslint/no-explicit-any': 'error',
      // An unused variable or import is usually a half-finished edit: a result computed and
      // never checked. A deliberate one is named with a leading underscore.
      '@typescript-eslint/no-unused-vars': [
        'error',
        {
          argsIgnorePattern: '^_',
          varsIgnorePattern: '^_',
          caughtErrorsIgnorePattern: '^_',
          destructuredArrayIgnorePattern: '^_',
          ignoreRestSiblings: true,
        },
      ],
      // A switch over a union (message kinds, error codes, engine names) that misses a member
      // and has no default silently does nothing when the union grows; tsc does not see it.
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // `==` coerces ('' == 0, '1' == 1): hex strings, bigints and numbers meet everywhere in
      // this code. `== null` is the one idiom kept (null or undefined).
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      // A `let` never reassigned hides which bindings really change in long async functions.
      // A `let` read by a closure (a teardown, a callback) before its one assignment cannot be
      // const, so those are left alone.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // An async Promise executor swallows its own throws: the promise never settles.
      'no-async-promise-executor': 'error',
      // A return, throw or break in `finally` silently discards the error being thrown.
      'no-unsafe-finally': 'error',
    },
  },
  {
    // The launcher and this file: plain JavaScript outside tsconfig, so only the rules that
    // need no types.
    files: ['**/*.js'],
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      'no-unsafe-finally': 'error',
    },
  },
)
