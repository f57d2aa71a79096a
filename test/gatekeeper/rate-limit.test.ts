import t from 'tap'
import { createRateLimiter, createRefusalCoalescer } from '../../gatekeeper/rate-limit.ts'

t.test('a token bucket per key: burst, then the rate, with the seconds to wait', async (t) => {
  let now = 0
  const limiter = createRateLimiter({ rate: 2, burst: 3, now: () => now })
  for (let i = 0; i < 3; i++) t.ok(limiter.take('a').ok, `burst request ${i + 1}`)
  const refused = limiter.take('a')
  t.same(refused, { ok: false, retryAfter: 1 }, 'the fourth at once is refused, retry after 1 s')
  t.ok(limiter.take('b').ok, 'another key has its own bucket')
  t.notOk(limiter.peek('a').ok, 'peek sees the empty bucket')
  now += 499
  t.notOk(limiter.take('a').ok, 'not yet half a second later')
  now += 1
  t.ok(limiter.take('a').ok, 'one token back after 1/rate')
  now += 10_000
  t.ok(limiter.peek('a').ok)
  for (let i = 0; i < 3; i++) t.ok(limiter.take('a').ok, 'refilled up to the burst, no more')
  t.notOk(limiter.take('a').ok)
  const slow = createRateLimiter({ rate: 0.1, burst: 1, now: () => now })
  slow.take('x')
  t.equal(slow.take('x').retryAfter, 10, 'Retry-After rounds up to whole seconds')
  const off = createRateLimiter({ rate: 0, burst: 0 })
  for (let i = 0; i < 1000; i++) if (!off.take('a').ok) t.fail('rate 0 turns limiting off')
})

t.test('tracked keys are bounded', async (t) => {
  let now = 0
  const limiter = createRateLimiter({ rate: 1, burst: 1, maxKeys: 10, now: () => now })
  limiter.take('first')
  for (let i = 0; i < 100; i++) limiter.take(`k${i}`)
  now += 1
  t.ok(limiter.take('first').ok, 'the oldest key was forgotten (a fresh bucket), memory stays bounded')
})

t.test('rate-limit refusals are written once per key and window, with the count in between', async (t) => {
  let now = 0
  const c = createRefusalCoalescer(10_000, { now: () => now })
  t.equal(c.next('a'), 0, 'the first refusal is written')
  t.equal(c.next('a'), undefined)
  t.equal(c.next('a'), undefined)
  t.equal(c.next('b'), 0, 'keys are apart')
  now += 10_000
  t.equal(c.next('a'), 2, 'the next window writes one row naming the 2 refused in between')
})
