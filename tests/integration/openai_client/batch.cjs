// The Batch API driven by OpenAI's own Node.js client, unchanged, pointed at glmq:
//   NODE_PATH=<openai-node>/node_modules node batch.cjs http://127.0.0.1:PORT
// Uploads a batch file, runs it to the end, reads the output file line by line, pages
// through the batches, cancels a second batch, lists the models, reads a streamed chat
// completion as it grows, and asks for JSON (JSON mode, a JSON Schema). Any failed check
// throws, and the process exits non-zero with the reason.
'use strict';

const assert = require('node:assert/strict');
const OpenAI = require('openai');
const { toFile } = require('openai');

const apiKey = process.argv[3] || 'none';
const client = new OpenAI({ baseURL: process.argv[2] + '/v1', apiKey });
const terminal = ['completed', 'failed', 'expired', 'cancelled'];
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// `documents` documents, `questions` questions about each: the lines of one document share
// its text, so glmq reads it once for all of them.
function batchFile(documents, questions, maxTokens) {
  const lines = [];
  for (let d = 0; d < documents; d++) {
    const text = `Document ${d}. ` + 'The river runs past the old mill and the town. '.repeat(12);
    for (let q = 0; q < questions; q++) {
      lines.push(JSON.stringify({
        custom_id: `doc-${d}-q-${q}`,
        method: 'POST',
        url: '/v1/chat/completions',
        body: {
          model: 'glm-4-9b-chat-1m',
          messages: [{ role: 'system', content: text }, { role: 'user', content: `Question ${q}?` }],
          max_tokens: maxTokens,
        },
      }));
    }
  }
  return lines.join('\n') + '\n';
}

async function upload(jsonl, name) {
  const file = await client.files.create({ file: await toFile(Buffer.from(jsonl), name), purpose: 'batch' });
  assert.equal(file.object, 'file');
  assert.equal(file.purpose, 'batch');
  assert.equal(file.bytes, Buffer.byteLength(jsonl));
  return file;
}

async function waitForEnd(id, seconds) {
  const until = Date.now() + seconds * 1000;
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (terminal.includes(batch.status)) return batch;
    if (Date.now() > until) throw new Error(`batch ${id} still ${batch.status} after ${seconds} s`);
    await sleep(200);
  }
}

async function lines(fileId) {
  const response = await client.files.content(fileId);
  const text = await response.text();
  return text.split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

// A streamed chat completion: the answer comes in pieces as the engine makes it, and they
// add up to the text of the job behind it.
async function streamedChat() {
  const stream = await client.chat.completions.create({
    model: 'glm-4-9b-chat-1m',
    messages: [{ role: 'user', content: 'Tell a long story.' }],
    max_tokens: 2000,
    stream: true,
  });
  const pieces = [];
  let id = null;
  let finish = null;
  for await (const chunk of stream) {
    id = chunk.id;
    const choice = chunk.choices[0];
    if (choice.delta.content) pieces.push(choice.delta.content);
    if (choice.finish_reason) finish = choice.finish_reason;
  }
  assert.equal(finish, 'length');
  assert.ok(pieces.length >= 2, `the answer came in ${pieces.length} piece(s)`);
  const job = await (await fetch(`${process.argv[2]}/v1/jobs/${id.slice('chatcmpl-'.length)}`, {
    headers: { Authorization: `Bearer ${apiKey}` },
  })).json();
  assert.equal(job.state, 'succeeded');
  assert.equal(pieces.join(''), job.text);
}

// JSON mode as the client asks for it: the answer is a JSON object, or the start of one
// when max_tokens cut it.
async function jsonMode() {
  const completion = await client.chat.completions.create({
    model: 'glm-4-9b-chat-1m',
    messages: [{ role: 'user', content: 'Name two rivers, as JSON.' }],
    response_format: { type: 'json_object' },
    max_tokens: 24,
  });
  const choice = completion.choices[0];
  assert.ok(choice.message.content.startsWith('{'), choice.message.content);
  if (choice.finish_reason === 'stop') JSON.parse(choice.message.content);
  await assert.rejects(
    client.chat.completions.create({
      model: 'glm-4-9b-chat-1m',
      messages: [{ role: 'user', content: 'Name two rivers.' }],
      response_format: { type: 'json_object' },
    }),
    (e) => e.status === 400 && /'json'/.test(e.message),
  );
  // Structured Outputs: a value matching the schema.
  const structured = await client.chat.completions.create({
    model: 'glm-4-9b-chat-1m',
    messages: [{ role: 'user', content: 'Is the river long?' }],
    response_format: {
      type: 'json_schema',
      json_schema: {
        name: 'answer',
        strict: true,
        schema: {
          type: 'object',
          properties: { long: { type: 'boolean' }, unit: { enum: ['km', 'mi'] } },
          required: ['long', 'unit'],
          additionalProperties: false,
        },
      },
    },
    max_tokens: 400,
    temperature: 0,
  });
  assert.equal(structured.choices[0].finish_reason, 'stop', JSON.stringify(structured));
  const answer = JSON.parse(structured.choices[0].message.content);
  assert.equal(typeof answer.long, 'boolean');
  assert.ok(['km', 'mi'].includes(answer.unit), JSON.stringify(answer));
}

async function main() {
  const models = await client.models.list();
  assert.equal(models.data.length, 1);
  assert.equal(models.data[0].object, 'model');
  await streamedChat();
  await jsonMode();

  // One batch, run to the end.
  const input = await upload(batchFile(4, 5, 4), 'questions.jsonl');
  const created = await client.batches.create({
    input_file_id: input.id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
    metadata: { suite: 'openai-node' },
  });
  assert.equal(created.object, 'batch');
  assert.ok(['validating', 'in_progress'].includes(created.status), created.status);
  assert.deepEqual(created.metadata, { suite: 'openai-node' });
  const done = await waitForEnd(created.id, 240);
  assert.equal(done.status, 'completed', JSON.stringify(done));
  assert.deepEqual(done.request_counts, { total: 20, completed: 20, failed: 0 });
  assert.equal(done.error_file_id, null);
  assert.ok(done.completed_at >= done.in_progress_at && done.in_progress_at >= done.created_at);
  const answers = await lines(done.output_file_id);
  assert.equal(answers.length, 20);
  const seen = new Set();
  for (const a of answers) {
    assert.ok(!seen.has(a.custom_id), `custom_id ${a.custom_id} answered twice`);
    seen.add(a.custom_id);
    assert.equal(a.error, null);
    assert.equal(a.response.status_code, 200);
    assert.equal(a.response.body.object, 'chat.completion');
    assert.equal(typeof a.response.body.choices[0].message.content, 'string');
  }
  assert.equal(seen.size, 20);
  // The four documents were read once each: most input tokens came from the prefix cache.
  assert.ok(done.usage.input_tokens_details.cached_tokens > done.usage.input_tokens / 2,
    JSON.stringify(done.usage));

  // A second batch, cancelled once its first answers are in: it ends cancelled, what
  // finished kept, the rest batch_cancelled, every line in one of the two files.
  const second = await client.batches.create({
    input_file_id: (await upload(batchFile(6, 8, 2000), 'long.jsonl')).id,
    endpoint: '/v1/chat/completions',
    completion_window: '24h',
  });
  for (let b = second; b.request_counts.completed < 1; b = await client.batches.retrieve(second.id)) {
    assert.equal(b.status === 'validating' || b.status === 'in_progress', true, b.status);
    await sleep(100);
  }
  const cancelling = await client.batches.cancel(second.id);
  assert.ok(['cancelling', 'cancelled'].includes(cancelling.status), cancelling.status);
  const cancelled = await waitForEnd(second.id, 120);
  assert.equal(cancelled.status, 'cancelled');
  const counts = cancelled.request_counts;
  assert.equal(counts.total, 48);
  assert.ok(counts.completed >= 1 && counts.failed >= 1, JSON.stringify(counts));
  assert.equal(counts.completed + counts.failed, counts.total);
  const ended = [];
  if (cancelled.output_file_id) ended.push(...await lines(cancelled.output_file_id));
  if (cancelled.error_file_id) ended.push(...await lines(cancelled.error_file_id));
  assert.equal(ended.length, counts.total);
  for (const e of ended) {
    if (e.error) assert.equal(e.error.code, 'batch_cancelled');
  }

  // Paging through the batches, newest first, one at a time.
  const listed = [];
  for await (const b of client.batches.list({ limit: 1 })) listed.push(b.id);
  assert.deepEqual(listed, [second.id, created.id]);

  const files = [];
  for await (const f of client.files.list()) files.push(f.id);
  assert.ok(files.includes(input.id) && files.includes(done.output_file_id));
  console.log('openai-node: every check passed');
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
