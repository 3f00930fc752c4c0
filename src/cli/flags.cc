#include "cli/flags.h"

#include <thread>

namespace glmq {
namespace {

template <typename T>
CLI::Option* Opt(CLI::App& cmd, const char* name, T& value, const char* help, const char* env) {
  return cmd.add_option(name, value, help)->envname(env)->capture_default_str();
}

}  // namespace

void AddCommonFlags(CLI::App& cmd, CommonFlags& f) {
  // Read by main() before parsing (see cli/config_file.h); declared here for --help.
  cmd.add_option("--config", f.config_path,
                 "TOML file with any of these options (GLMQ_* and flags win) and the [alerts] "
                 "rules and channels")
      ->envname("GLMQ_CONFIG");
  Opt(cmd, "--log-level", f.log_level, "trace | debug | info | warn | error", "GLMQ_LOG_LEVEL");
  Opt(cmd, "--blocking-threads", f.blocking_threads, "threads for store and tokenizer work",
      "GLMQ_BLOCKING_THREADS");
}

void AddHttpFlags(CLI::App& cmd, HttpServerOptions& f, uint16_t default_port) {
  f.port = default_port;
  Opt(cmd, "--host", f.host, "address to listen on", "GLMQ_HOST");
  Opt(cmd, "--port", f.port, "port to listen on (0 = any free port)", "GLMQ_PORT");
  Opt(cmd, "--max-body-bytes", f.max_body_bytes, "largest request body", "GLMQ_MAX_BODY_BYTES");
  Opt(cmd, "--http-threads", f.io_threads, "threads serving HTTP", "GLMQ_HTTP_THREADS");
  Opt(cmd, "--max-connections", f.max_connections,
      "open connections past this are answered 503 and closed (0 = the descriptor limit, "
      "raised to its hard limit at start, less a tenth)",
      "GLMQ_MAX_CONNECTIONS");
}

void AddBatchApiFlags(CLI::App& cmd, FilesOptions& f, BatchRunnerOptions& batches) {
  Opt(cmd, "--max-file-bytes", f.max_file_bytes,
      "largest file POST /v1/files takes (read a piece at a time, never held whole)",
      "GLMQ_MAX_FILE_BYTES");
  auto* hours = cmd.add_option_function<double>(
                       "--file-retention-hours",
                       [&f](double h) { f.retention_ms = static_cast<int64_t>(h * 3'600'000); },
                       "uploaded files are deleted this long after their upload unless it asks "
                       "otherwise (0 = kept until deleted)")
                    ->envname("GLMQ_FILE_RETENTION_HOURS");
  hours->default_str("720");
  Opt(cmd, "--batch-max-lines", batches.max_lines, "most requests one batch's input file may hold",
      "GLMQ_BATCH_MAX_LINES");
  Opt(cmd, "--batch-max-queued-tokens", batches.max_queued_tokens,
      "a batch that, with what its tenant has queued, comes to more tokens (prompt and "
      "max_tokens, estimated) fails with token_limit_exceeded before a line runs (0 = no limit; "
      "a tenant's own: batch_max_queued_tokens= in the keys file)",
      "GLMQ_BATCH_MAX_QUEUED_TOKENS");
}

void AddHttpDrainFlag(CLI::App& cmd, HttpServerOptions& f) {
  Opt(cmd, "--drain-seconds", f.drain_seconds,
      "on SIGTERM, how long requests in flight may take to finish", "GLMQ_DRAIN_SECONDS");
}

void AddEngineFlags(CLI::App& cmd, LlamaEngineOptions& f, bool tokenizer_only) {
  Opt(cmd, "-m,--model", f.model_path,
      tokenizer_only ? "GGUF model file: only its vocabulary is loaded, to count tokens (required)"
                     : "GGUF model file (required)",
      "GLMQ_MODEL");
  Opt(cmd, "-c,--ctx-size", f.ctx_size,
      tokenizer_only ? "the workers' --ctx-size, until a worker says how many tokens its "
                       "sequences hold: jobs that can never fit are refused (0 = min(model's "
                       "context, 32768))"
                     : "KV tokens shared by all sequences (0 = min(model's context, 32768) on a "
                       "CPU; on a GPU, as many as its free memory holds)",
      "GLMQ_CTX_SIZE");
  if (tokenizer_only) return;
  Opt(cmd, "--parallel", f.parallel, "sequences decoded together", "GLMQ_PARALLEL");
  Opt(cmd, "-b,--batch-size", f.batch_size, "tokens per decode step", "GLMQ_BATCH_SIZE");
  Opt(cmd, "--step-target-ms", f.step_target_ms,
      "while sequences generate, size prompt chunks so a step takes about this long (0 = off)",
      "GLMQ_STEP_TARGET_MS");
  Opt(cmd, "--ubatch-size", f.ubatch_size, "physical batch size", "GLMQ_UBATCH_SIZE");
  Opt(cmd, "-t,--threads", f.threads, "CPU threads (0 = all)", "GLMQ_THREADS");
  Opt(cmd, "--flash-attn", f.flash_attn, "on | off | auto", "GLMQ_FLASH_ATTN")
      ->check(CLI::IsMember({"on", "off", "auto"}));
  Opt(cmd, "--kv-type", f.kv_type, "KV cache type: f16 | q8_0 | q4_0", "GLMQ_KV_TYPE")
      ->check(CLI::IsMember({"f16", "q8_0", "q4_0"}));
  Opt(cmd, "--gpu-layers", f.gpu_layers, "layers on the GPU (-1 = all)", "GLMQ_GPU_LAYERS");
  Opt(cmd, "--gpu-headroom-mib", f.gpu_headroom_mib,
      "GPU memory left free beside the weights, KV and attention masks (compute buffers); "
      "--ctx-size 0 on a GPU takes the rest",
      "GLMQ_GPU_HEADROOM_MIB");
  Opt(cmd, "--prefix-cache", f.prefix_cache,
      "reuse the KV of a prompt prefix another job read (questions on one document read it "
      "once): on | off",
      "GLMQ_PREFIX_CACHE");
  cmd.add_option("--prefix-cache-disk", f.prefix_cache_disk_bytes,
                 "room on disk for prefixes evicted from memory or left at shutdown, e.g. 20GiB "
                 "(0 = none); loaded again by jobs that start the same way")
      ->envname("GLMQ_PREFIX_CACHE_DISK")
      ->transform(CLI::AsSizeValue(false))
      ->capture_default_str();
  Opt(cmd, "--prefix-cache-dir", f.prefix_cache_dir,
      "where --prefix-cache-disk keeps them (serve: DATA_DIR/prefix-cache)",
      "GLMQ_PREFIX_CACHE_DIR");
  cmd.add_option("--prefix-cache-scope", f.prefix_cache_scope,
                 "whose cached KV a job may reuse: tenant (its own tenant's only: no tenant can "
                 "probe another's documents) | global (anyone's)")
      ->envname("GLMQ_PREFIX_CACHE_SCOPE")
      ->transform(CLI::CheckedTransformer(
          std::map<std::string, LlamaEngineOptions::PrefixCacheScope>{
              {"tenant", LlamaEngineOptions::PrefixCacheScope::kTenant},
              {"global", LlamaEngineOptions::PrefixCacheScope::kGlobal}},
          CLI::ignore_case))
      ->default_str("tenant");
}

void AddApiFlags(CLI::App& cmd, ApiOptions& f, AdmissionOptions& admission) {
  Opt(cmd, "--default-max-tokens", f.limits.default_max_tokens, "max_tokens when a job gives none",
      "GLMQ_DEFAULT_MAX_TOKENS");
  Opt(cmd, "--sync-count-bytes", admission.sync_count_bytes,
      "texts up to this size are tokenized before the 202; larger ones right after it",
      "GLMQ_SYNC_COUNT_BYTES");
  Opt(cmd, "--max-tokens-limit", f.limits.max_tokens_limit, "largest max_tokens accepted",
      "GLMQ_MAX_TOKENS_LIMIT");
  Opt(cmd, "--chat-wait-seconds", f.chat_wait_seconds,
      "how long POST /v1/chat/completions waits for its job before a 504 naming it",
      "GLMQ_CHAT_WAIT_SECONDS")
      ->check(CLI::PositiveNumber);
  // Measured with bench/redis_submit.sh: 2 gains ~18% on 16 cores and loses ~7% on 2.
  admission.submit_batches_in_flight = std::thread::hardware_concurrency() > 2 ? 2 : 1;
  Opt(cmd, "--submit-batches-in-flight", admission.submit_batches_in_flight,
      "batches of submits written to the store at once (default: 2 on more than 2 cores)",
      "GLMQ_SUBMIT_BATCHES_IN_FLIGHT")
      ->check(CLI::Range(1, 8));
  cmd.add_option("--api-key", f.api_keys,
                 "an admin key of the default tenant, sent as 'Authorization: Bearer KEY' "
                 "(repeat for several; no key here, in --api-keys-file or made by 'glmq keys "
                 "create': the API is open)")
      ->envname("GLMQ_API_KEYS")
      ->delimiter(',');
  Opt(cmd, "--rate-limit", f.submit_rate,
      "submits a second per client (its API key, else its address); over it a 429 (0 = none)",
      "GLMQ_RATE_LIMIT")
      ->check(CLI::NonNegativeNumber);
  Opt(cmd, "--rate-limit-burst", f.submit_burst, "submits a client may send at once",
      "GLMQ_RATE_LIMIT_BURST")
      ->check(CLI::PositiveNumber);
  Opt(cmd, "--api-keys-file", f.api_keys_file,
      "file of API keys: 'TENANT ROLE KEY|sha256:HEX [name=NAME]' per line ('#' comments); "
      "read again within a second of a change",
      "GLMQ_API_KEYS_FILE");
  Opt(cmd, "--tenant-max-queued", f.tenant_limits.max_queued_jobs,
      "jobs a tenant may have queued; over it a submit is a 429 (0 = no limit; a keys file "
      "line 'tenant NAME max_queued=N' sets one tenant's)",
      "GLMQ_TENANT_MAX_QUEUED")
      ->check(CLI::NonNegativeNumber);
  Opt(cmd, "--tenant-max-queued-tokens", f.tenant_limits.max_queued_tokens,
      "prompt tokens a tenant may have queued (0 = no limit; max_queued_tokens=)",
      "GLMQ_TENANT_MAX_QUEUED_TOKENS")
      ->check(CLI::NonNegativeNumber);
  Opt(cmd, "--tenant-tokens-per-minute", f.tenant_limits.tokens_per_minute,
      "prompt + max tokens a tenant may submit a minute, per gateway (0 = no limit; "
      "tokens_per_minute=)",
      "GLMQ_TENANT_TOKENS_PER_MINUTE")
      ->check(CLI::NonNegativeNumber);
  Opt(cmd, "--max-drain-seconds", f.max_drain_seconds,
      "while the queue would take longer than this to drain, submits get 503 with Retry-After "
      "(0 = never)",
      "GLMQ_MAX_DRAIN_SECONDS")
      ->check(CLI::NonNegativeNumber);
  cmd.add_flag("--insecure", f.insecure,
               "serve an open API (no API key anywhere) on an address other than loopback")
      ->envname("GLMQ_INSECURE");
}

void AddWebhookFlags(CLI::App& cmd, WebhookOptions& f) {
  Opt(cmd, "--webhook-secret", f.secret,
      "key of the HMAC-SHA256 Glmq-Signature header on webhook deliveries (empty: unsigned)",
      "GLMQ_WEBHOOK_SECRET");
  Opt(cmd, "--webhook-max-attempts", f.max_attempts,
      "tries of a webhook delivery before it is given up", "GLMQ_WEBHOOK_MAX_ATTEMPTS")
      ->check(CLI::Range(1, 100));
  cmd.add_option("--webhook-allow-hosts", f.allow_hosts,
                 "hosts webhook_url may name: names, addresses, *.example.com (none: any); "
                 "others get a 400")
      ->envname("GLMQ_WEBHOOK_ALLOW_HOSTS")
      ->delimiter(',');
  cmd.add_flag("--webhook-allow-private", f.allow_private,
               "let webhooks reach loopback, private, link-local and other non-public addresses "
               "(without it: public addresses only, checked on the address each connects to)")
      ->envname("GLMQ_WEBHOOK_ALLOW_PRIVATE");
  Opt(cmd, "--webhook-timeout-seconds", f.timeout_seconds, "how long one try may take",
      "GLMQ_WEBHOOK_TIMEOUT_SECONDS")
      ->check(CLI::Range(0.1, 50.0));
}

void AddSchedulerFlags(CLI::App& cmd, SchedulerOptions& f) {
  Opt(cmd, "--lease-ms", f.lease_ms, "worker lease on a running job, in ms", "GLMQ_LEASE_MS");
  Opt(cmd, "--max-deliveries", f.max_deliveries, "runs of a job before it is dead-lettered",
      "GLMQ_MAX_DELIVERIES");
  Opt(cmd, "--progress-interval-ms", f.progress_interval_ms,
      "how often a running job's progress and answer so far are written to the store (what "
      "GET /v1/jobs/{id}, its events and a streamed chat completion show)",
      "GLMQ_PROGRESS_INTERVAL_MS")
      ->check(CLI::Range(int64_t{50}, int64_t{60000}));
  Opt(cmd, "--backfill", f.backfill,
      "while a job waits for KV, start jobs behind it that cannot delay it: on | off",
      "GLMQ_BACKFILL");
  Opt(cmd, "--fair-share", f.fair_share,
      "claim from the tenant with the least weighted service counted (VTC; weights from the "
      "keys file's tenant lines), or in the queue's global order: on | off",
      "GLMQ_FAIR_SHARE");
  Opt(cmd, "--short-slots", f.short_slots,
      "sequences kept for short jobs (prompts under --medium-prompt-tokens, 4096 on a worker): "
      "longer jobs do not start into the last N free ones",
      "GLMQ_SHORT_SLOTS")
      ->check(CLI::Range(0, 1024));
}

void AddPolicyFlags(CLI::App& cmd, PolicyOptions& f) {
  Opt(cmd, "--priority-step-seconds", f.priority_step_seconds,
      "queue time one priority level is worth", "GLMQ_PRIORITY_STEP_SECONDS");
  Opt(cmd, "--promised-order", f.promised_order,
      "order by the start each job is promised, so later shorter jobs overtake it only "
      "within its own service time and the wait it is told holds: on | off",
      "GLMQ_PROMISED_ORDER");
  Opt(cmd, "--keep-estimates", f.keep_estimates,
      "without --promised-order: a job sorts no later than its arrival plus the wait it is "
      "told, so later shorter jobs overtake it only as far as its estimate foresaw: on | off",
      "GLMQ_KEEP_ESTIMATES");
  Opt(cmd, "--medium-prompt-tokens", f.medium_prompt_tokens,
      "prompt tokens from which a job is 'medium'", "GLMQ_MEDIUM_PROMPT_TOKENS");
  Opt(cmd, "--long-prompt-tokens", f.long_prompt_tokens, "prompt tokens from which a job is 'long'",
      "GLMQ_LONG_PROMPT_TOKENS");
}

}  // namespace glmq
