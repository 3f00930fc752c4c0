// The OpenAPI 3.0 description of the HTTP API that `glmq serve` and `glmq gateway` answer,
// served at GET /openapi.json. tests/api/openapi_test.cc checks that it is well formed and
// tests/integration/serve_test.cc that a server answers every operation it names.
#include "api/openapi.h"

#include <memory>

namespace glmq {

const std::string& OpenApiDocument() {
  static const std::string document = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "glmq",
    "version": "1",
    "description": "Asynchronous batch inference for long-context LLMs. Submit a document and a question (or chat messages), get a job id at once, then poll, long-poll or stream the job's events. Every error is a JSON body {\"error\":{\"code\",\"message\"}} with the status code that fits."
  },
  "security": [{"apiKey": []}],
  "paths": {
    "/v1/jobs": {
      "post": {
        "summary": "Submit a job",
        "operationId": "submitJob",
        "parameters": [
          {"name": "Idempotency-Key", "in": "header", "required": false, "schema": {"type": "string", "minLength": 1, "maxLength": 255}, "description": "For 24 h the same key and body return the first answer again; another body is a 422, a retry while the first is being accepted a 409. Scoped by the API key's tenant."}
        ],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobRequest"}}}},
        "responses": {
          "202": {"description": "Accepted: the job is durable.", "headers": {"Location": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "429": {"description": "Over --rate-limit: the Retry-After header says when to try again.", "headers": {"Retry-After": {"schema": {"type": "integer"}}}, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "503": {"$ref": "#/components/responses/Error"}
        }
      },
      "get": {
        "summary": "List jobs, newest first",
        "operationId": "listJobs",
        "parameters": [
          {"name": "state", "in": "query", "schema": {"$ref": "#/components/schemas/State"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
          {"name": "after", "in": "query", "schema": {"type": "string"}, "description": "The next_after of the page before."},
          {"name": "tenant", "in": "query", "schema": {"type": "string"}, "description": "An admin key's filter: one tenant's jobs ('default': the implicit tenant's). Other keys list their own tenant's jobs only."}
        ],
        "responses": {
          "200": {"description": "A page of jobs.", "content": {"application/json": {"schema": {"type": "object", "properties": {"object": {"type": "string", "enum": ["list"]}, "data": {"type": "array", "items": {"$ref": "#/components/schemas/Job"}}, "has_more": {"type": "boolean"}, "next_after": {"type": "string", "nullable": true}}}}}},
          "400": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}": {
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "get": {
        "summary": "Read a job; long-poll with ?wait",
        "operationId": "getJob",
        "parameters": [{"name": "wait", "in": "query", "schema": {"type": "number", "minimum": 0, "maximum": 300}, "description": "Seconds to wait for a terminal state."}],
        "responses": {
          "200": {"description": "The job.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "404": {"$ref": "#/components/responses/Error"}
        }
      },
      "delete": {
        "summary": "Cancel a queued or running job",
        "operationId": "cancelJob",
        "responses": {
          "200": {"description": "Cancelled, or asked to stop (cancel_requested).", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Job"}}}},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/jobs/{id}/events": {
      "parameters": [{"$ref": "#/components/parameters/JobId"}],
      "get": {
        "summary": "Follow a job as server-sent events until it ends",
        "operationId": "jobEvents",
        "description": "Events `state` (first, and at each change of state), `progress` (once a second while it moves) and `done` (terminal, with the text); each event's data is the Job. The stream then ends.",
        "responses": {
          "200": {"description": "The event stream.", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/queue": {
      "get": {
        "summary": "Queue, running jobs, throughput and latency",
        "operationId": "getQueue",
        "responses": {"200": {"description": "Per length class: queued jobs and tokens, oldest age; running jobs, jobs per state, dead letters, throughput, predicted drain, KV use and latency percentiles.", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    },
    "/v1/usage": {
      "get": {
        "summary": "Jobs by outcome and tokens per tenant and day (UTC), for chargeback",
        "operationId": "getUsage",
        "parameters": [
          {"name": "from", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "First day, YYYY-MM-DD (default: 29 days before 'to')."},
          {"name": "to", "in": "query", "schema": {"type": "string", "format": "date"}, "description": "Last day (default: today); at most 366 days in all."},
          {"name": "tenant", "in": "query", "schema": {"type": "string"}, "description": "An admin key's filter; other keys see their own tenant's."}
        ],
        "responses": {
          "200": {"description": "Rows of {tenant, date, jobs {succeeded, failed, cancelled, expired}, prompt_tokens, cached_tokens, completion_tokens}.", "content": {"application/json": {"schema": {"type": "object"}}}},
          "400": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/alerts": {
      "get": {
        "summary": "Active alerts, recent notices and silences",
        "operationId": "getAlerts",
        "responses": {"200": {"description": "{active, history, silences}", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    },
    "/v1/silences": {
      "get": {
        "summary": "List silences",
        "operationId": "listSilences",
        "responses": {"200": {"description": "Silences.", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}
      },
      "post": {
        "summary": "Silence alerts that match (Alertmanager matchers)",
        "operationId": "createSilence",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SilenceRequest"}}}},
        "responses": {
          "200": {"description": "{silenceID, silence}", "content": {"application/json": {"schema": {"type": "object"}}}},
          "400": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/v1/silences/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "delete": {
        "summary": "Expire a silence",
        "operationId": "deleteSilence",
        "responses": {"200": {"description": "Expired.", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/v1/chat/completions": {
      "post": {
        "summary": "OpenAI-compatible chat completion: submits a job and answers when it ends",
        "operationId": "chatCompletion",
        "description": "The job is queued and scheduled like any other (it shows in /v1/jobs; the Glmq-Job header names it). The connection is held until it ends, up to --chat-wait-seconds; then a 504 names the job, which goes on. With stream: true the answer comes as text/event-stream chat.completion.chunk events as it grows (each write of the job's progress that added text is a chunk, the rest when the job ends, keep-alive comments in silences, then data: [DONE]; a job that ran again and answered otherwise ends it with the error answer_restarted). n > 1, tools, response_format and logprobs are refused; model, user and other fields are ignored.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["messages"], "properties": {"messages": {"type": "array", "items": {"type": "object", "properties": {"role": {"type": "string"}, "content": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}]}}}}, "max_tokens": {"type": "integer", "minimum": 1}, "max_completion_tokens": {"type": "integer", "minimum": 1}, "temperature": {"type": "number", "minimum": 0, "maximum": 2}, "top_p": {"type": "number"}, "seed": {"type": "integer"}, "stop": {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}, "response_format": {"$ref": "#/components/schemas/ResponseFormat"}, "stream": {"type": "boolean"}}}}}},
        "responses": {
          "200": {"description": "chat.completion: {id, object, created, model, choices: [{index, message: {role, content}, finish_reason}], usage}", "headers": {"Glmq-Job": {"schema": {"type": "string"}}}, "content": {"application/json": {"schema": {"type": "object"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "429": {"$ref": "#/components/responses/Error"},
          "500": {"$ref": "#/components/responses/Error"},
          "504": {"description": "Not ended within --chat-wait-seconds (or its timeout passed); the message and the Location header name the job.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/v1/files": {
      "post": {
        "summary": "Upload a batch's input file (OpenAI's Files API)",
        "operationId": "uploadFile",
        "description": "multipart/form-data with a file part and purpose=batch (optional expires_after[anchor]=created_at and expires_after[seconds], 3600 to 2592000). Read from the socket a piece at a time, up to --max-file-bytes.",
        "requestBody": {"required": true, "content": {"multipart/form-data": {"schema": {"type": "object", "required": ["file", "purpose"], "properties": {"file": {"type": "string", "format": "binary"}, "purpose": {"type": "string", "enum": ["batch"]}}}}}},
        "responses": {
          "200": {"description": "The file.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/File"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "413": {"$ref": "#/components/responses/Error"},
          "507": {"$ref": "#/components/responses/Error"}
        }
      },
      "get": {
        "summary": "List your files",
        "operationId": "listFiles",
        "parameters": [
          {"name": "purpose", "in": "query", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 10000}},
          {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"], "default": "desc"}},
          {"name": "after", "in": "query", "schema": {"type": "string"}}
        ],
        "responses": {"200": {"description": "{object: list, data: [File], first_id, last_id, has_more}", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/v1/files/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "A file", "operationId": "getFile", "responses": {"200": {"description": "The file.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/File"}}}}, "404": {"$ref": "#/components/responses/Error"}}},
      "delete": {"summary": "Delete a file", "operationId": "deleteFile", "responses": {"200": {"description": "{id, object: file, deleted: true}", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/files/{id}/content": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "A file's bytes, streamed", "operationId": "getFileContent", "responses": {"200": {"description": "The bytes.", "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/batches": {
      "post": {
        "summary": "Create a batch of an uploaded file's requests (OpenAI's Batch API)",
        "operationId": "createBatch",
        "description": "Each line of the file, {custom_id, method: POST, url, body}, becomes a job of your tenant in a tier below interactive work, within the completion window. The batch's status goes validating, in_progress, finalizing, completed (or failed, expired, cancelling, cancelled); its output_file_id and error_file_id name files of one line a request.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["input_file_id", "endpoint", "completion_window"], "properties": {"input_file_id": {"type": "string"}, "endpoint": {"type": "string", "enum": ["/v1/chat/completions", "/v1/jobs"]}, "completion_window": {"type": "string", "description": "24h, or N followed by s, m, h or d: 10 seconds to 7 days"}, "metadata": {"type": "object", "maxProperties": 16, "additionalProperties": {"type": "string", "maxLength": 512}}, "webhook_url": {"type": "string", "description": "glmq's own: POSTed {event: batch.<status>, batch} once the batch ends, signed and retried as a job's webhook"}}}}}},
        "responses": {"200": {"description": "The batch.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}}, "400": {"$ref": "#/components/responses/Error"}}
      },
      "get": {
        "summary": "List your batches, newest first",
        "operationId": "listBatches",
        "parameters": [
          {"name": "after", "in": "query", "schema": {"type": "string"}},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}}
        ],
        "responses": {"200": {"description": "{object: list, data: [Batch], first_id, last_id, has_more}", "content": {"application/json": {"schema": {"type": "object"}}}}, "400": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/v1/batches/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "A batch", "operationId": "getBatch", "responses": {"200": {"description": "The batch.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/batches/{id}/cancel": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "post": {"summary": "Cancel a batch: queued lines at once, running ones within a step; what finished is kept", "operationId": "cancelBatch", "responses": {"200": {"description": "The batch, cancelling or cancelled.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Batch"}}}}, "404": {"$ref": "#/components/responses/Error"}, "409": {"$ref": "#/components/responses/Error"}}}
    },
    "/v1/models": {
      "get": {"summary": "The model this service runs (OpenAI's list)", "operationId": "listModels", "responses": {"200": {"description": "{object: list, data: [{id, object: model, created, owned_by}]}", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/v1/models/{id}": {
      "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {"summary": "The model, by its id", "operationId": "getModel", "responses": {"200": {"description": "{id, object: model, created, owned_by}", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": {"$ref": "#/components/responses/Error"}}}
    },
    "/api/v1/chat": {
      "post": {
        "summary": "Submit, in the seed service's form",
        "operationId": "seedChat",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}, "question": {"type": "string"}, "max_length": {"type": "integer", "minimum": 1}, "temperature": {"type": "number", "minimum": 0, "maximum": 2}}}}}},
        "responses": {
          "200": {"description": "{task_id, status, message, estimated_time, queue_position}", "content": {"application/json": {"schema": {"type": "object"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "422": {"$ref": "#/components/responses/Error"},
          "429": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/task/{task_id}": {
      "parameters": [{"name": "task_id", "in": "path", "required": true, "schema": {"type": "string"}}],
      "get": {
        "summary": "A job, in the seed service's form",
        "operationId": "seedTask",
        "responses": {"200": {"description": "{task_id, status, result, ...}; status is pending, processing, completed, failed, cancelled or expired.", "content": {"application/json": {"schema": {"type": "object"}}}}, "404": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/api/v1/queue/status": {
      "get": {
        "summary": "The queue, in the seed service's form",
        "operationId": "seedQueueStatus",
        "responses": {"200": {"description": "{queue_length, processing, completed, failed, cancelled, workers, estimated_wait}", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    },
    "/healthz": {
      "get": {"summary": "The process answers", "operationId": "healthz", "security": [], "responses": {"200": {"description": "{status: ok}", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/readyz": {
      "get": {"summary": "The model is loaded and the store takes writes", "operationId": "readyz", "security": [], "responses": {"200": {"description": "Ready.", "content": {"application/json": {"schema": {"type": "object"}}}}, "503": {"description": "Not ready; the body says why.", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/metrics": {
      "get": {"summary": "Prometheus metrics (text format 0.0.4)", "operationId": "metrics", "security": [], "responses": {"200": {"description": "Metrics.", "content": {"text/plain": {"schema": {"type": "string"}}}}}}
    },
    "/": {
      "get": {"summary": "The dashboard page", "operationId": "dashboard", "security": [], "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}}}
    },
    "/dashboard": {
      "get": {"summary": "The dashboard page", "operationId": "dashboardAlias", "security": [], "responses": {"200": {"description": "HTML.", "content": {"text/html": {"schema": {"type": "string"}}}}}}
    },
    "/openapi.json": {
      "get": {"summary": "This document", "operationId": "openapi", "security": [], "responses": {"200": {"description": "OpenAPI 3.0.", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    }
  },
  "components": {
    "securitySchemes": {
      "apiKey": {"type": "http", "scheme": "bearer", "description": "Needed once any API key exists (--api-key, --api-keys-file, glmq keys create); a missing or wrong key is a 401, a key whose role does not allow the call a 403. The key names the tenant: another tenant's job answers 404 as an unknown one."}
    },
    "parameters": {
      "JobId": {"name": "id", "in": "path", "required": true, "schema": {"type": "string", "pattern": "^job_[0-9a-f]{24}$"}}
    },
    "responses": {
      "Error": {"description": "An error.", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "File": {"type": "object", "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["file"]}, "bytes": {"type": "integer"}, "created_at": {"type": "integer"}, "filename": {"type": "string"}, "purpose": {"type": "string", "enum": ["batch", "batch_output"]}, "expires_at": {"type": "integer", "nullable": true}, "status": {"type": "string"}}},
      "Batch": {"type": "object", "properties": {"id": {"type": "string"}, "object": {"type": "string", "enum": ["batch"]}, "endpoint": {"type": "string"}, "errors": {"type": "object", "nullable": true, "description": "{object: list, data: [{code, message, param, line}]}"}, "input_file_id": {"type": "string"}, "completion_window": {"type": "string"}, "status": {"type": "string", "enum": ["validating", "failed", "in_progress", "finalizing", "completed", "expired", "cancelling", "cancelled"]}, "output_file_id": {"type": "string", "nullable": true}, "error_file_id": {"type": "string", "nullable": true}, "created_at": {"type": "integer"}, "in_progress_at": {"type": "integer", "nullable": true}, "expires_at": {"type": "integer"}, "finalizing_at": {"type": "integer", "nullable": true}, "completed_at": {"type": "integer", "nullable": true}, "failed_at": {"type": "integer", "nullable": true}, "expired_at": {"type": "integer", "nullable": true}, "cancelling_at": {"type": "integer", "nullable": true}, "cancelled_at": {"type": "integer", "nullable": true}, "estimated_finish_at": {"type": "integer", "nullable": true, "description": "glmq's own: when the last line is expected to end, from the work queued before it"}, "request_counts": {"type": "object", "properties": {"total": {"type": "integer"}, "completed": {"type": "integer"}, "failed": {"type": "integer"}}}, "usage": {"type": "object"}, "metadata": {"type": "object", "nullable": true}, "webhook_url": {"type": "string", "nullable": true, "description": "glmq's own: where its end is announced"}}},
      "State": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled", "expired"]},
      "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}}},
      "Message": {"type": "object", "required": ["role", "content"], "additionalProperties": false, "properties": {"role": {"type": "string", "enum": ["system", "user", "assistant", "observation"]}, "content": {"type": "string"}}},
      "JobRequest": {
        "type": "object",
        "additionalProperties": false,
        "description": "Either text (with an optional question) or messages.",
        "properties": {
          "text": {"type": "string", "description": "The document."},
          "question": {"type": "string"},
          "messages": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/Message"}},
          "max_tokens": {"type": "integer", "minimum": 1, "description": "Default --default-max-tokens (256), at most --max-tokens-limit."},
          "temperature": {"type": "number", "minimum": 0, "maximum": 2, "default": 0.8},
          "top_p": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "maximum": 1, "default": 0.95},
          "seed": {"type": "integer", "minimum": -1, "description": "-1 or absent: random."},
          "stop": {"oneOf": [{"type": "string"}, {"type": "array", "maxItems": 16, "items": {"type": "string"}}]},
          "response_format": {"$ref": "#/components/schemas/ResponseFormat"},
          "priority": {"type": "integer", "minimum": -10, "maximum": 10, "default": 0},
          "timeout_seconds": {"type": "number", "exclusiveMinimum": true, "minimum": 0, "description": "Queue and run time; past it the job ends expired."},
          "webhook_url": {"type": "string", "maxLength": 2048, "description": "http:// or https:// URL POSTed {event, job} once the job ends (at least once; see the README)."}
        }
      },
      "ResponseFormat": {
        "type": "object",
        "required": ["type"],
        "description": "json_object (JSON mode): the answer is one JSON object, held to it token by token; the prompt must contain the word 'json'. json_schema (Structured Outputs): a value matching json_schema.schema, in the subset of JSON Schema OpenAI's strict mode takes (every property required; pattern, format and the like are a 400; keys in name order, or in an object's propertyOrdering). An answer cut by max_tokens is the beginning of one.",
        "properties": {
          "type": {"type": "string", "enum": ["text", "json_object", "json_schema"], "default": "text"},
          "json_schema": {"type": "object", "required": ["name", "schema"], "properties": {"name": {"type": "string", "maxLength": 64}, "schema": {"type": "object"}, "strict": {"type": "boolean"}, "description": {"type": "string"}}}
        }
      },
      "Accepted": {
        "type": "object",
        "properties": {
          "id": {"type": "string"}, "object": {"type": "string", "enum": ["job"]}, "tenant": {"type": "string", "description": "the tenant of the key that submitted it ('default' without keys)"}, "state": {"$ref": "#/components/schemas/State"},
          "prompt_tokens": {"type": "integer"}, "prompt_tokens_estimated": {"type": "boolean"},
          "length_class": {"type": "string", "enum": ["short", "medium", "long"]},
          "queue_position": {"type": "integer"}, "estimated_wait_seconds": {"type": "number"}, "created_at": {"type": "number"}
        }
      },
      "Job": {
        "type": "object",
        "properties": {
          "id": {"type": "string"}, "object": {"type": "string", "enum": ["job"]}, "tenant": {"type": "string", "description": "the tenant of the key that submitted it ('default' without keys)"}, "state": {"$ref": "#/components/schemas/State"},
          "priority": {"type": "integer"}, "length_class": {"type": "string", "enum": ["short", "medium", "long"]},
          "prompt_tokens": {"type": "integer"}, "max_tokens": {"type": "integer"},
          "created_at": {"type": "number"}, "started_at": {"type": "number", "nullable": true}, "finished_at": {"type": "number", "nullable": true}, "deadline_at": {"type": "number", "nullable": true},
          "estimated_wait_seconds": {"type": "number"}, "current_estimated_wait_seconds": {"type": "number", "description": "while queued: the wait from now, as estimated now (estimated_wait_seconds is the one given at submit)"}, "current_queue_position": {"type": "integer", "description": "while queued"}, "queue_wait_seconds": {"type": "number", "nullable": true}, "run_seconds": {"type": "number", "nullable": true},
          "attempts": {"type": "integer"}, "cancel_requested": {"type": "boolean"}, "dead_letter": {"type": "boolean"},
          "worker": {"type": "string", "description": "While running: the worker that holds it."},
          "webhook_url": {"type": "string"},
          "progress": {"type": "object", "properties": {"prompt_tokens_read": {"type": "integer"}, "prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "text": {"type": "string", "description": "while running: the answer so far, which the final text starts with"}}},
          "text": {"type": "string", "description": "Terminal jobs: the answer."},
          "finish_reason": {"type": "string", "enum": ["stop", "length", "cancelled", "timeout", "error"]},
          "usage": {"type": "object", "properties": {"prompt_tokens": {"type": "integer"}, "completion_tokens": {"type": "integer"}, "total_tokens": {"type": "integer"}, "prompt_tokens_details": {"type": "object", "description": "cached_tokens: prompt tokens whose KV was reused from another job with the same prefix (questions on one document) instead of being read", "properties": {"cached_tokens": {"type": "integer"}}}}},
          "error": {"type": "object", "properties": {"code": {"type": "string"}, "message": {"type": "string"}}}
        }
      },
      "SilenceRequest": {
        "type": "object",
        "required": ["matchers"],
        "properties": {
          "matchers": {"type": "array", "items": {"type": "object", "required": ["name", "value"], "properties": {"name": {"type": "string"}, "value": {"type": "string"}, "isRegex": {"type": "boolean"}, "isEqual": {"type": "boolean"}}}},
          "startsAt": {"description": "RFC 3339 or unix seconds"}, "endsAt": {"description": "RFC 3339 or unix seconds"},
          "duration": {"type": "number", "description": "Seconds, instead of endsAt"},
          "createdBy": {"type": "string"}, "comment": {"type": "string"}
        }
      }
    }
  }
}
)json";
  return document;
}

void AddOpenApiRoute(Router& router) {
  router.Add(
      http::verb::get, "/openapi.json",
      [document = &OpenApiDocument()](RequestContext&) -> asio::awaitable<HttpResponse> {
        HttpResponse res{http::status::ok, 11};
        res.set(http::field::content_type, "application/json");
        res.body() = *document;
        co_return res;
      },
      Access::kOpen);
}

}  // namespace glmq
