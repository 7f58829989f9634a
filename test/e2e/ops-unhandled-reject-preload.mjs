/* global process, setInterval, clearInterval */
// Preloaded before src/cli/main.ts by ops-unhandled-rejection.test.ts: once main.ts has installed its
// process handlers, a promise nobody handles is rejected (the timer also keeps the process alive till then).
const wait = setInterval(() => {
  if (process.listenerCount('unhandledRejection') === 0) return;
  clearInterval(wait);
  void Promise.reject(new Error('boom from a forgotten promise'));
}, 5);
