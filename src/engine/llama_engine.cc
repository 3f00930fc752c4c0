// LlamaEngine: loading, admission and the decode step. About 500 lines: the step and the
// admission share the slots' state; the prefix cache is in llama_prefix_cache.cc and the
// vocabulary in llama_tokenizer.cc.
#include "engine/llama_engine.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "core/error_codes.h"
#include "core/utf8.h"
#include "engine/llama_kv_type.h"
#include "engine/llama_sequence.h"
#include "engine/stable_text.h"
#include "ggml-cpu.h"
#include "ggml.h"
#include "llama.h"

namespace glmq {
namespace {

Result<llama_flash_attn_type> ParseFlashAttn(const std::string& name) {
  if (name == "on") return LLAMA_FLASH_ATTN_TYPE_ENABLED;
  if (name == "off") return LLAMA_FLASH_ATTN_TYPE_DISABLED;
  if (name == "auto") return LLAMA_FLASH_ATTN_TYPE_AUTO;
  return InvalidArgument("--flash-attn must be on, off or auto, not '" + name + "'");
}

}  // namespace

Result<std::unique_ptr<LlamaEngine>> LlamaEngine::Load(const LlamaEngineOptions& options) {
  if (options.parallel < 1 || options.parallel > 256) {
    return InvalidArgument("--parallel must be between 1 and 256");
  }
  if (options.batch_size < 1 || options.ubatch_size < 1) {
    return InvalidArgument("--batch-size and --ubatch-size must be positive");
  }
  GLMQ_ASSIGN_OR_RETURN(const ggml_type kv_type, ParseKvType(options.kv_type));
  GLMQ_ASSIGN_OR_RETURN(const llama_flash_attn_type flash_attn, ParseFlashAttn(options.flash_attn));
  if (kv_type != GGML_TYPE_F16 && flash_attn == LLAMA_FLASH_ATTN_TYPE_DISABLED) {
    return InvalidArgument("a quantized --kv-type needs --flash-attn on or auto");
  }
  std::unique_ptr<LlamaEngine> engine(new LlamaEngine());
  GLMQ_ASSIGN_OR_RETURN(engine->tokenizer_, LlamaTokenizer::LoadWithWeights(options));
  ModelInfo& info = engine->info_;
  info = engine->tokenizer_->info();
  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = static_cast<uint32_t>(info.ctx_size);
  cparams.n_batch = static_cast<uint32_t>(options.batch_size);
  cparams.n_ubatch = static_cast<uint32_t>(std::min(options.ubatch_size, options.batch_size));
  cparams.n_seq_max = static_cast<uint32_t>(options.parallel);
  const int32_t threads =
      options.threads > 0 ? options.threads
                          : static_cast<int32_t>(std::max(1u, std::thread::hardware_concurrency()));
  cparams.n_threads = threads;
  cparams.n_threads_batch = threads;
  cparams.flash_attn_type = flash_attn;
  cparams.type_k = kv_type;
  cparams.type_v = kv_type;
  // One KV pool for all sequences: a long document may use most of it while short jobs
  // use little, instead of every sequence getting ctx_size / parallel.
  cparams.kv_unified = true;
  cparams.no_perf = true;
  // Never aborts: ggml calls it between the nodes of a graph, which makes it a heartbeat
  // from inside long steps.
  cparams.abort_callback = [](void* data) {
    static_cast<std::atomic<TimeMs>*>(data)->store(NowMs(), std::memory_order_relaxed);
    return false;
  };
  cparams.abort_callback_data = &engine->alive_at_;
  engine->ctx_ = llama_init_from_model(engine->tokenizer_->model(), cparams);
  if (engine->ctx_ == nullptr) {
    return Status(StatusCode::kResourceExhausted,
                  "cannot create a context of " + std::to_string(info.ctx_size) + " tokens (" +
                      std::to_string(info.ctx_size * info.kv_bytes_per_token >> 20) +
                      " MiB of KV); lower --ctx-size");
  }
  // llama.cpp rounds the context up (to a multiple of 256): account for the cells there are,
  // as CheckFits does, or a job between the two sizes would pass the check and never fit.
  info.ctx_size = static_cast<int64_t>(llama_n_ctx(engine->ctx_));
  engine->tokenizer_->SetContext(info.ctx_size,
                                 static_cast<int64_t>(llama_n_ctx_seq(engine->ctx_)));
  // One CPU thread pool for the life of the engine, as llama-server keeps: without it ggml
  // starts threads for every graph, which measured ~10 % slower prefill on 2 cores.
  ggml_threadpool_params pool_params = ggml_threadpool_params_default(threads);
  engine->threadpool_ = ggml_threadpool_new(&pool_params);
  if (engine->threadpool_ != nullptr) {
    llama_attach_threadpool(engine->ctx_, engine->threadpool_, nullptr);
  } else {
    spdlog::warn("cannot create a CPU thread pool of {} threads; ggml makes one per step", threads);
  }
  // One batch for the life of the engine: Step() fills it again each time.
  engine->batch_ = std::make_unique<llama_batch>(llama_batch_init(options.batch_size, 0, 1));
  engine->step_target_seconds_ = options.step_target_ms / 1000.0;
  engine->prefix_cache_ = options.prefix_cache;
  engine->scope_ = options.prefix_cache_scope;
  if (options.prefix_cache && options.prefix_cache_disk_bytes > 0) {
    // One directory per model and KV type: a state saved by another one does not load.
    std::string key = info.name.empty() ? "model" : info.name;
    for (char& c : key) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') c = '_';
    }
    key += "-" + std::to_string(info.n_params) + "-" + options.kv_type;
    if (options.prefix_cache_dir.empty())
      return InvalidArgument("the prefix cache's disk tier needs a directory");
    auto disk =
        PrefixFiles::Open(options.prefix_cache_dir + "/" + key, options.prefix_cache_disk_bytes);
    if (!disk.ok()) return disk.status();
    engine->disk_ = std::move(*disk);
    spdlog::info("prefix cache on disk: {}/{}: {} prefixes, {} of {} MiB", options.prefix_cache_dir,
                 key, engine->disk_->entries(), engine->disk_->bytes() >> 20,
                 options.prefix_cache_disk_bytes >> 20);
  }
  engine->slots_.resize(options.parallel);
  for (int32_t i = 0; i < options.parallel; ++i) engine->slots_[i].seq_id = i;
  spdlog::info(
      "model {} ({}, {:.1f}M params, trained context {}), context {} tokens, {} sequences, "
      "batch {}, KV {} B/token ({} MiB), {} threads",
      info.name.empty() ? options.model_path : info.name, info.architecture, info.n_params / 1e6,
      info.n_ctx_train, info.ctx_size, info.parallel, info.batch_size, info.kv_bytes_per_token,
      (info.ctx_size * info.kv_bytes_per_token) >> 20, threads);
  return engine;
}

LlamaEngine::~LlamaEngine() {
  if (disk_ != nullptr && ctx_ != nullptr) {
    // What is warm now is what the next start will most likely be asked about.
    for (const Sequence& seq : slots_) {
      if (!seq.active) SaveToDisk(seq);
    }
  }
  // The samplers go first, while the vocabulary their grammars were made for still exists.
  for (Sequence& seq : slots_) seq.sampler = TokenSampler();
  if (batch_) llama_batch_free(*batch_);
  if (ctx_ != nullptr) llama_free(ctx_);
  if (threadpool_ != nullptr) ggml_threadpool_free(threadpool_);
}

int32_t LlamaEngine::FreeSlots() const {
  return static_cast<int32_t>(
      std::count_if(slots_.begin(), slots_.end(), [](const Sequence& s) { return !s.active; }));
}

int32_t LlamaEngine::ActiveSequences() const {
  return static_cast<int32_t>(slots_.size()) - FreeSlots();
}

Status LlamaEngine::Admit(const Job& job, PromptTokens& tokens) {
  const SamplingParams& sp = job.request.sampling;
  if (tokens.empty()) return Unprocessable("prompt has no tokens");
  GLMQ_RETURN_IF_ERROR(tokenizer_->CheckFits(static_cast<int64_t>(tokens.size()), sp.max_tokens));
  if (FreeSlots() == 0) return Status(StatusCode::kResourceExhausted, "no free sequence");
  // Made before the slot is touched: a grammar llama.cpp refused leaves nothing half done.
  GLMQ_ASSIGN_OR_RETURN(TokenSampler sampler, TokenSampler::Make(sp, tokenizer_->vocab()));

  const std::string partition = PartitionOf(job);
  Placement place = Place(partition, tokens);
  // A longer prefix saved on disk is loaded into an empty slot below.
  std::optional<PrefixFiles::Match> saved;
  if (disk_ != nullptr) {
    saved = disk_->Find(partition, tokens, tokens.size() - 1);
    if (saved && (saved->reuse < kMinReusedPrefix || saved->reuse <= place.reuse)) saved.reset();
    if (saved) place = Placement{IdleSlot(), nullptr, 0};
  }
  Sequence& seq = *place.slot;
  // The slot keeps the cells it reuses; a running donor's are shared once it has them. A
  // warm slot taken for another document goes to disk first.
  const size_t keep = place.donor == nullptr ? place.reuse : 0;
  const std::string loading = saved ? saved->kv_path : std::string();
  if (keep < kMinReusedPrefix) SaveToDisk(seq, loading);
  Truncate(seq, keep);
  // The whole context is reserved at admission, so a running job never runs out of KV;
  // shared cells are the donor's (or the slot's parent's) to hold.
  const int64_t context = static_cast<int64_t>(tokens.size()) + sp.max_tokens;
  auto needed = [&] {
    const int64_t own =
        context - static_cast<int64_t>(place.donor != nullptr ? place.reuse : seq.shared);
    // Loading fills as many cells as the file holds before the tail is dropped.
    return saved ? std::max(own, static_cast<int64_t>(saved->tokens)) : own;
  };
  if (const int64_t available = AvailableTokens(&seq); needed() > available) {
    return Status(StatusCode::kResourceExhausted, "the job needs " + std::to_string(needed()) +
                                                      " KV tokens and " +
                                                      std::to_string(available) + " are free now");
  }
  // Warm slots give their memory back, the one used longest ago first.
  while (needed() > UnheldTokens(&seq)) {
    Sequence* victim = nullptr;
    for (Sequence& s : slots_) {
      if (!s.active && &s != &seq && !s.kv.empty() && (victim == nullptr || s.used < victim->used))
        victim = &s;
    }
    if (victim == nullptr) {
      return Internal("KV accounting: " + std::to_string(needed()) + " tokens needed, " +
                      std::to_string(UnheldTokens(&seq)) + " free after evicting every warm slot");
    }
    SaveToDisk(*victim, loading);
    Truncate(*victim, 0);
  }
  if (saved) place.reuse = LoadFromDisk(seq, *saved) ? saved->reuse : 0;

  std::vector<llama_token> kv = std::move(seq.kv);
  const int32_t seq_id = seq.seq_id, parent = seq.parent;
  const size_t shared = seq.shared;
  seq = Sequence();
  seq.seq_id = seq_id;
  seq.kv = std::move(kv);
  seq.partition = partition;
  seq.parent = parent;
  seq.shared = shared;
  seq.active = true;
  seq.admitted = ++admitted_;
  seq.used = ++used_;
  seq.job_id = job.id;
  seq.prompt = std::move(tokens);
  seq.max_tokens = sp.max_tokens;
  seq.stop = sp.stop;
  for (const std::string& s : seq.stop) seq.longest_stop = std::max(seq.longest_stop, s.size());
  seq.deadline_at = job.deadline_at;
  if (place.donor != nullptr) {
    // Step() shares the prefix once the donor has read it.
    seq.parent = place.donor->seq_id;
    seq.shared = place.reuse;
    seq.waiting = true;
  } else if (place.reuse > 0) {
    seq.prompt_read = place.reuse;
    seq.n_past = static_cast<int32_t>(place.reuse);
    seq.cached_tokens = static_cast<int64_t>(place.reuse);
    seq.took_prefix = true;
  }

  seq.sampler = std::move(sampler);
  return Status::Ok();
}

Completion LlamaEngine::Outcome(const Sequence& seq, JobState state,
                                std::string finish_reason) const {
  Completion c;
  c.state = state;
  c.output = SanitizeUtf8(seq.bytes);
  c.finish_reason = std::move(finish_reason);
  c.usage.prompt_tokens = static_cast<int64_t>(seq.prompt_read);
  c.usage.completion_tokens = seq.completion_tokens;
  c.usage.cached_tokens = seq.cached_tokens;
  return c;
}

void LlamaEngine::Finish(Sequence& seq, Completion completion,
                         std::vector<StepReport::Finished>& finished, bool keep_kv) {
  seq.sampler = TokenSampler();
  seq.active = false;
  seq.used = ++used_;
  if (seq.waiting) {  // it shares nothing yet
    seq.waiting = false;
    seq.parent = -1;
    seq.shared = 0;
  }
  // Followers waiting for this one to read more take what it has now, and hold the rest
  // themselves: until they do, the KV accounting would count cells it will never read as
  // its.
  for (Sequence& c : slots_) {
    if (c.active && c.waiting && c.parent == seq.seq_id) TakeSharedPrefix(c);
  }
  if (!prefix_cache_ || !keep_kv) Truncate(seq, 0);
  finished.push_back({seq.job_id, std::move(completion)});
}

void LlamaEngine::StopSequence(Sequence& seq, JobState state) {
  Completion c = Outcome(seq, state, state == JobState::kExpired ? "timeout" : "cancelled");
  if (state == JobState::kExpired) {
    c.error_code = ErrorCodeName(ErrorCode::kTimeout);
    c.error_message = "the job's timeout_seconds passed while it was running";
  }
  Finish(seq, std::move(c), stopped_);
}

void LlamaEngine::Stop(const std::string& id, JobState state) {
  for (Sequence& seq : slots_) {
    if (seq.active && seq.job_id == id) StopSequence(seq, state);
  }
}

bool LlamaEngine::AcceptToken(Sequence& seq, llama_token token) {
  if (llama_vocab_is_eog(tokenizer_->vocab(), token)) return true;
  ++seq.completion_tokens;
  char piece[256];
  int32_t n = llama_token_to_piece(tokenizer_->vocab(), token, piece, sizeof(piece), 0, false);
  if (n > 0) {
    seq.bytes.append(piece, n);
  } else if (n < 0) {
    std::string big(-n, '\0');
    n = llama_token_to_piece(tokenizer_->vocab(), token, big.data(), -n, 0, false);
    if (n > 0) seq.bytes.append(big.data(), n);
  }
  if (seq.longest_stop > 0) {
    // Only a match that ends in the new piece is new.
    const size_t from = seq.bytes.size() > seq.longest_stop + static_cast<size_t>(std::max(n, 0))
                            ? seq.bytes.size() - seq.longest_stop - std::max(n, 0)
                            : 0;
    size_t cut = std::string::npos;
    for (const std::string& s : seq.stop) {
      const size_t at = seq.bytes.find(s, from);
      if (at != std::string::npos) cut = std::min(cut, at);
    }
    if (cut != std::string::npos) {
      seq.bytes.resize(cut);
      return true;
    }
  }
  return false;
}

void LlamaEngine::RecordStepCost(double seconds, int32_t prompt_tokens, int32_t generating) {
  constexpr double kAlpha = 0.2;
  auto blend = [](double old, double sample) {
    return old <= 0 ? sample : old + kAlpha * (sample - old);
  };
  if (prompt_tokens == 0) {
    if (generating > 0) decode_step_seconds_ = blend(decode_step_seconds_, seconds);
    return;
  }
  const double prompt_seconds = seconds - (generating > 0 ? decode_step_seconds_ : 0.0);
  if (prompt_seconds > 0) {
    prefill_token_seconds_ = blend(prefill_token_seconds_, prompt_seconds / prompt_tokens);
  }
}

int32_t LlamaEngine::PrefillBudget(int32_t generating, bool bound_prefill_steps) const {
  const int32_t most = info_.batch_size - generating;
  if ((generating == 0 && !bound_prefill_steps) || step_target_seconds_ <= 0 ||
      prefill_token_seconds_ <= 0) {
    return most;
  }
  // Keep the step, and so the time between two tokens of every generating sequence, near
  // the target: prompt reading gets the time that one-token-per-sequence decoding leaves.
  constexpr int32_t kMinChunk = 32;  // always some progress, even when decoding alone is slow
  const double left = step_target_seconds_ - (generating > 0 ? decode_step_seconds_ : 0.0);
  const double fit = left > 0 ? left / prefill_token_seconds_ : 0.0;
  return static_cast<int32_t>(std::clamp<double>(fit, std::min(kMinChunk, most), most));
}

int64_t LlamaEngine::FreeKvTokens() const { return AvailableTokens(nullptr); }

StepReport LlamaEngine::Step(const StepHints& hints) {
  const auto start = std::chrono::steady_clock::now();
  const TimeMs now = NowMs();
  for (Sequence& seq : slots_) {
    if (seq.active && seq.deadline_at > 0 && now >= seq.deadline_at) {
      StopSequence(seq, JobState::kExpired);
    }
  }
  StepReport report;
  report.finished = std::move(stopped_);
  stopped_.clear();
  // Sequences waiting for a shared prefix take it once their donor has read it (a donor
  // that stops early hands over what it has in Finish()).
  for (Sequence& seq : slots_) {
    if (seq.active && seq.waiting && slots_[seq.parent].kv.size() >= seq.shared) {
      TakeSharedPrefix(seq);
    }
  }

  // Generating sequences first: one token each. Then prompt chunks, shortest remaining
  // prompt first: a question beside a long document is read in one step, and the document
  // gets what is left of the budget.
  std::vector<Sequence*> order;
  for (Sequence& seq : slots_) {
    if (seq.active) order.push_back(&seq);
  }
  auto prompt_left = [](const Sequence* s) { return s->prompt.size() - s->prompt_read; };
  std::sort(order.begin(), order.end(), [&](const Sequence* a, const Sequence* b) {
    if (a->generating != b->generating) return a->generating;
    if (!a->generating && prompt_left(a) != prompt_left(b)) return prompt_left(a) < prompt_left(b);
    return a->admitted < b->admitted;
  });

  int32_t generating = 0;
  for (const Sequence* seq : order) generating += seq->generating ? 1 : 0;
  int32_t prefill_budget = PrefillBudget(generating, hints.bound_prefill_steps);
  const auto decode_start = std::chrono::steady_clock::now();

  llama_batch& batch = *batch_;
  auto add = [&batch](llama_token t, int32_t pos, int32_t seq_id, bool logits) {
    const int32_t i = batch.n_tokens++;
    batch.token[i] = t;
    batch.pos[i] = pos;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = seq_id;
    batch.logits[i] = logits;
    return i;
  };

  auto yields = [&hints](const Sequence* seq) {
    return std::find(hints.yield_prefill.begin(), hints.yield_prefill.end(), seq->job_id) !=
           hints.yield_prefill.end();
  };
  // A yielding prompt is read only when nothing else would be: then the step is free.
  const bool others_have_work = std::any_of(order.begin(), order.end(), [&](const Sequence* seq) {
    return seq->generating || (!seq->waiting && !yields(seq));
  });

  int status = 0;
  for (int attempt = 0; attempt < 8; ++attempt) {
    batch.n_tokens = 0;
    int32_t budget = prefill_budget;
    for (Sequence* seq : order) {
      seq->batch_index = -1;
      seq->chunk = 0;
      if (!seq->active) continue;
      if (seq->generating) {
        seq->batch_index = add(seq->next_token, seq->n_past, seq->seq_id, true);
        continue;
      }
      if (seq->waiting || (others_have_work && yields(seq))) continue;
      const int32_t left = static_cast<int32_t>(seq->prompt.size() - seq->prompt_read);
      const int32_t chunk = std::min(left, budget);
      if (chunk <= 0) continue;
      for (int32_t k = 0; k < chunk; ++k) {
        const bool last = seq->prompt_read + k + 1 == seq->prompt.size();
        const int32_t i =
            add(seq->prompt[seq->prompt_read + k], seq->n_past + k, seq->seq_id, last);
        if (last) seq->batch_index = i;
      }
      seq->chunk = chunk;
      budget -= chunk;
    }
    if (batch.n_tokens == 0) break;
    int32_t prompt_in_batch = 0;
    for (const Sequence* seq : order) prompt_in_batch += seq->chunk;
    // A job submitted meanwhile that finds a sequence free waits for this step: it is told
    // how long the step has left.
    const double expected =
        prompt_in_batch * prefill_token_seconds_ + (generating > 0 ? decode_step_seconds_ : 0.0);
    step_ends_at_.store(expected > 0 ? NowMs() + std::llround(1000 * expected) : 0,
                        std::memory_order_relaxed);
    status = llama_decode(ctx_, batch);
    step_ends_at_.store(0, std::memory_order_relaxed);
    if (status == 0) {
      const double decode_seconds = SecondsSince(decode_start);
      RecordStepCost(decode_seconds, prompt_in_batch, generating);
      spdlog::debug("step: {} prompt tokens, {} generating, decode {:.3f} s", prompt_in_batch,
                    generating, decode_seconds);
    }
    if (status != 1 || prefill_budget <= 1) break;
    // No KV slot for this batch: the cache is fragmented or full. Read less prompt.
    prefill_budget /= 2;
    spdlog::warn("decode found no KV slot; retrying with a prompt budget of {}", prefill_budget);
  }

  if (status != 0) {
    spdlog::error("llama_decode failed with status {}; failing the {} sequences in the batch",
                  status, order.size());
    for (Sequence* seq : order) {
      if (!seq->active || (seq->chunk == 0 && !seq->generating)) continue;
      Completion c = Outcome(*seq, JobState::kFailed, "error");
      c.error_code =
          ErrorCodeName(status == 1 ? ErrorCode::kKvExhausted : ErrorCode::kDecodeFailed);
      c.error_message = status == 1
                            ? "the KV cache has no room for this sequence"
                            : "the engine failed to decode (status " + std::to_string(status) + ")";
      Finish(*seq, std::move(c), report.finished, /*keep_kv=*/false);
    }
    report.seconds = SecondsSince(start);
    return report;
  }

  for (Sequence* seq : order) {
    if (!seq->active) continue;
    if (seq->generating && seq->batch_index >= 0) {
      ++seq->n_past;
      seq->kv.push_back(seq->next_token);
    } else if (seq->chunk > 0) {
      const auto read = seq->prompt.begin() + static_cast<ptrdiff_t>(seq->prompt_read);
      seq->kv.insert(seq->kv.end(), read, read + seq->chunk);
      report.prompt_positions += PositionsOf(seq->n_past, seq->chunk);
      seq->n_past += seq->chunk;
      seq->prompt_read += seq->chunk;
      report.prompt_tokens += seq->chunk;
    }
    if (seq->batch_index < 0) continue;
    Result<llama_token> sampled = seq->sampler.Sample(ctx_, seq->batch_index);
    if (!sampled.ok()) {
      Completion c = Outcome(*seq, JobState::kFailed, "error");
      c.error_code = ErrorCodeName(ErrorCode::kDecodeFailed);
      c.error_message = std::string(sampled.status().message());
      Finish(*seq, std::move(c), report.finished, /*keep_kv=*/false);
      continue;
    }
    const llama_token token = *sampled;
    ++report.generated_tokens;
    seq->generating = true;
    const bool ended = AcceptToken(*seq, token);
    if (ended) {
      Finish(*seq, Outcome(*seq, JobState::kSucceeded, "stop"), report.finished);
    } else if (seq->completion_tokens >= seq->max_tokens) {
      Finish(*seq, Outcome(*seq, JobState::kSucceeded, "length"), report.finished);
    } else {
      seq->next_token = token;
    }
  }
  for (Sequence* seq : order) {
    if (seq->took_prefix) report.reused_prompt_tokens += seq->cached_tokens;
    const bool took_prefix = std::exchange(seq->took_prefix, false);
    if (seq->active && (seq->chunk > 0 || seq->batch_index >= 0 || took_prefix)) {
      const size_t shown = StableTextEnd(seq->bytes, seq->bytes_shown, seq->stop);
      report.progressed.push_back(
          {seq->job_id,
           {.prompt_tokens = static_cast<int64_t>(seq->prompt.size()),
            .prompt_tokens_read = static_cast<int64_t>(seq->prompt_read),
            .completion_tokens = seq->completion_tokens},
           SanitizeUtf8(
               std::string_view(seq->bytes).substr(seq->bytes_shown, shown - seq->bytes_shown))});
      seq->bytes_shown = shown;
    }
  }
  report.seconds = SecondsSince(start);
  return report;
}

}  // namespace glmq
