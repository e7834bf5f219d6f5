// Package retry holds the retry stage of a throttlecache chain: an
// http.RoundTripper that answers 429 Too Many Requests and 503 Service
// Unavailable by waiting and trying again, and that recognises SEC EDGAR's
// block.
//
// The stage sits between the cache and the rate-limit stage, so every
// attempt waits for the limiter and spends a token:
//
//	l, err := ratelimit.NewEDGARLimiter(nil, &ratelimit.Options{Logger: logger}) // a Pauser too
//	if err != nil {
//		return err
//	}
//	rt, err := retry.New(ratelimit.New(nil, l), retry.Options{Pauser: l, Logger: logger})
//	if err != nil {
//		return err
//	}
//	client := &http.Client{Transport: rt}
//
// What it does with a response:
//
//   - 429 or 503 with Retry-After (seconds or an HTTP date): pauses the
//     limiter for that host until then, so that every goroutine holds back,
//     not only the one that was told; waits; tries again. A Retry-After
//     longer than Options.MaxRetryAfter is not waited out: the response
//     goes back to the caller, and the pause lasts MaxRetryAfter.
//   - a response Options.Block recognises as a block of the client (the
//     Manager installs ratelimit.EDGARBlock: a 429 without Retry-After from
//     SEC EDGAR, or a 403 whose page is titled "Request Rate Threshold
//     Exceeded"): the limiter pauses for the pause Block gives (EDGARBlock:
//     10 minutes), the reason is logged, and an idempotent request is tried
//     again after the pause. A 403 that is not that page (a missing object,
//     a rejected User-Agent) is returned as it is, body untouched.
//   - any other 429, or a 503 without Retry-After: exponential backoff with
//     jitter; a 429 pauses the host for the backoff too.
//
// Only requests that can be sent again are retried: DefaultCheckRetry
// retries GET, HEAD, OPTIONS, TRACE, PUT and DELETE (idempotent by RFC
// 9110) or a request with an Idempotency-Key header, when they have no
// body or a GetBody to replay it; a request whose body cannot be replayed
// is never sent again, whatever CheckRetry says. Attempts are bounded
// (Options.MaxAttempts). The request's context ends every wait; a wait that
// would outlast the context's deadline is not started, and the response is
// returned instead. Responses that are not returned are drained (a few KiB
// at most) and closed.
package retry
