// BullMQ's submit path, the peer of `glmq gateway` in bench/redis_submit.sh: Queue.add of a
// ~1 KB job from CONCURRENCY callers at once for SECONDS, on the Redis at PORT. Prints
//   BULLMQ_RESULT adds=N seconds=S per_second=R
// Run from a directory whose node_modules holds bullmq.
import { Queue } from 'bullmq';

const [port, seconds, concurrency] = process.argv.slice(2).map(Number);
const queue = new Queue('bench', { connection: { host: '127.0.0.1', port } });
// The body of a glmq submit in bench/submit.lua: ~1 KB of text and max_tokens.
const data = { text: 'x'.repeat(1000), question: 'What is this?', max_tokens: 1 };
await queue.waitUntilReady();
let adds = 0;
const start = process.hrtime.bigint();
const end = Date.now() + seconds * 1000;
await Promise.all(Array.from({ length: concurrency }, async () => {
  while (Date.now() < end) {
    await queue.add('job', data);
    adds += 1;
  }
}));
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
console.log(`BULLMQ_RESULT adds=${adds} seconds=${elapsed.toFixed(2)} per_second=${(adds / elapsed).toFixed(0)}`);
await queue.close();
