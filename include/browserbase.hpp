/*
 * browserbase.hpp: a header-only C++17 wrapper over browserbase.h.
 *
 * RAII owners for every C object, exceptions instead of codes, std::string,
 * std::filesystem::path, std::chrono and std::function instead of raw
 * pointers. Each call is one C call; the only state the wrapper keeps is
 * what the C library needs to stay alive: a Client's progress function and
 * the process-wide log handler.
 *
 *     #include "browserbase.hpp"
 *
 *     browserbase::download(session_id, "downloads.zip");  // BROWSERBASE_API_KEY
 *
 *     browserbase::ClientOptions options;
 *     options.api_key = "bb_live_...";
 *     options.timeout = std::chrono::seconds(30);
 *     browserbase::Client client(options);
 *     std::vector<std::uint8_t> zip = client.download_bytes(session_id);
 *
 *     for (const auto &entry : browserbase::Archive::from_bytes(zip).entries())
 *         std::cout << entry.original_name << ' ' << entry.size << '\n';
 *
 *     options.progress = [](std::uint64_t received, std::optional<std::uint64_t> total) {
 *         std::cout << received << " of " << total.value_or(0) << " bytes\n";
 *         return true;  // false cancels: CancelledError
 *     };
 *     browserbase::set_log_handler(
 *         [](browserbase::LogLevel level, std::string_view line) {
 *             std::clog << browserbase::log_level_name(level) << ": " << line << '\n';
 *         },
 *         browserbase::LogLevel::info);
 *
 * Errors: every failure throws a browserbase::Error (a std::runtime_error)
 * carrying code() (the bb_code) and http_status() (0 when no HTTP response
 * came), as a subclass named after the official SDKs' errors: NotFoundError,
 * AuthenticationError, RateLimitError, ConnectionError, TimeoutError... (see
 * below). The bb_error behind it is always freed.
 *
 * Threads: as the C library, every function may be called from many threads
 * at once and a Client may be shared (by reference) between them; it must
 * outlive the calls that use it. Moving a Client or an Archive while another
 * thread uses it is a data race, as for any C++ object.
 *
 * Link with -lbrowserbase (see README.md); POSIX only (paths are bytes).
 */

#ifndef BROWSERBASE_HPP
#define BROWSERBASE_HPP

#if !defined(__cplusplus) ||                                                                       \
    (__cplusplus < 201703L && !(defined(_MSVC_LANG) && _MSVC_LANG >= 201703L))
#error "browserbase.hpp needs C++17 or later"
#endif

#include "browserbase.h"

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace browserbase {

static_assert(std::is_same<std::filesystem::path::value_type, char>::value,
              "browserbase.hpp: paths are passed to the C library as narrow strings (POSIX)");

// ===========================================================================
// Errors
// ===========================================================================

/// Base class of everything this wrapper throws.
class Error : public std::runtime_error {
public:
    Error(bb_code code, int http_status, const std::string &message)
        : std::runtime_error(message), code_(code), http_status_(http_status) {}

    /// The library's code, such as BB_ERR_NOT_FOUND.
    [[nodiscard]] bb_code code() const noexcept { return code_; }
    /// The HTTP status of the response behind the error; 0 when none came.
    [[nodiscard]] int http_status() const noexcept { return http_status_; }
    /// The code's name, such as "BB_ERR_NOT_FOUND" (a static string).
    [[nodiscard]] const char *code_name() const noexcept { return bb_code_name(code_); }

private:
    bb_code code_;
    int http_status_;
};

/// A failure talking to the service (the official SDKs' APIError).
class ApiError : public Error {
public:
    using Error::Error;
};

/// The service answered a non-2xx status; http_status() says which.
class ApiStatusError : public ApiError {
public:
    using ApiError::ApiError;
};

/// HTTP 400.
class BadRequestError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 401: the API key was refused.
class AuthenticationError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 403.
class PermissionDeniedError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 404: no such session.
class NotFoundError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 409.
class ConflictError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 422.
class UnprocessableEntityError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 429, after the client's retries.
class RateLimitError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// HTTP 5xx, after the client's retries.
class InternalServerError : public ApiStatusError {
public:
    using ApiStatusError::ApiStatusError;
};

/// No usable connection: refused, reset, DNS, TLS, a body cut short.
class ConnectionError : public ApiError {
public:
    using ApiError::ApiError;
};

/// The server stayed silent too long, or the deadline passed.
class TimeoutError : public ConnectionError {
public:
    using ConnectionError::ConnectionError;
};

/// An unusable argument or setting; nothing was sent, no file touched.
class InvalidArgumentError : public Error {
public:
    using Error::Error;
};

/// The local file system: missing directory, permission, disk full...
class LocalIoError : public Error {
public:
    using Error::Error;
};

/// Not a usable ZIP archive, or one that may not be extracted safely.
class InvalidArchiveError : public Error {
public:
    using Error::Error;
};

/// A download's write function asked to stop (returned false).
class CancelledError : public Error {
public:
    using Error::Error;
};

/// Waiting for a session's files ran out of time.
class NotReadyError : public Error {
public:
    using Error::Error;
};

/// A bug in the library, or out of memory.
class InternalError : public Error {
public:
    using Error::Error;
};

/// Throws the exception for `code` and `http_status`: the class follows the
/// code, and for BB_ERR_HTTP the status (400, 409, 422...).
[[noreturn]] inline void throw_error(bb_code code, int http_status, const std::string &message) {
    switch (code) {
    case BB_ERR_INVALID_ARGUMENT: throw InvalidArgumentError(code, http_status, message);
    case BB_ERR_AUTHENTICATION: throw AuthenticationError(code, http_status, message);
    case BB_ERR_PERMISSION_DENIED: throw PermissionDeniedError(code, http_status, message);
    case BB_ERR_NOT_FOUND: throw NotFoundError(code, http_status, message);
    case BB_ERR_RATE_LIMITED: throw RateLimitError(code, http_status, message);
    case BB_ERR_SERVER: throw InternalServerError(code, http_status, message);
    case BB_ERR_HTTP:
        switch (http_status) {
        case 400: throw BadRequestError(code, http_status, message);
        case 401: throw AuthenticationError(code, http_status, message);
        case 403: throw PermissionDeniedError(code, http_status, message);
        case 404: throw NotFoundError(code, http_status, message);
        case 409: throw ConflictError(code, http_status, message);
        case 422: throw UnprocessableEntityError(code, http_status, message);
        case 429: throw RateLimitError(code, http_status, message);
        default:
            if (http_status >= 500) throw InternalServerError(code, http_status, message);
            throw ApiStatusError(code, http_status, message);
        }
    case BB_ERR_CONNECTION: throw ConnectionError(code, http_status, message);
    case BB_ERR_TIMEOUT: throw TimeoutError(code, http_status, message);
    case BB_ERR_IO: throw LocalIoError(code, http_status, message);
    case BB_ERR_INVALID_ARCHIVE: throw InvalidArchiveError(code, http_status, message);
    case BB_ERR_CANCELLED: throw CancelledError(code, http_status, message);
    case BB_ERR_NOT_READY: throw NotReadyError(code, http_status, message);
    case BB_OK:
    case BB_ERR_INTERNAL:
    default: throw InternalError(code, http_status, message);
    }
}

namespace detail {

struct ErrorDeleter {
    void operator()(bb_error *err) const noexcept { bb_error_free(err); }
};
using ErrorPtr = std::unique_ptr<bb_error, ErrorDeleter>;

/// Turns a failed call into an exception, freeing `err` in any case. Call it
/// in a statement of its own after the C call (`err` is read here, so even
/// `check(bb_f(..., &err), err)` would be right, but keep it obvious).
inline void check(bb_code rc, bb_error *const &err) {
    ErrorPtr owned(err);
    if (rc == BB_OK) return;
    if (!owned) throw_error(rc, 0, bb_code_name(rc));
    throw_error(bb_error_code(owned.get()), bb_error_http_status(owned.get()),
                bb_error_message(owned.get()));
}

[[noreturn]] inline void invalid(const std::string &message) {
    throw InvalidArgumentError(BB_ERR_INVALID_ARGUMENT, 0, message);
}

/// A NUL-terminated copy of a string argument (a string_view need not be
/// terminated). An embedded NUL would silently cut the string: refused.
class CString {
public:
    CString(const char *what, std::string_view value) : value_(value) {
        if (value_.find('\0') != std::string::npos)
            invalid(std::string(what) + " contains a NUL character");
    }
    [[nodiscard]] const char *get() const noexcept { return value_.c_str(); }

private:
    std::string value_;
};

/// As CString, but nullopt stays NULL (the library then uses its default).
class OptCString {
public:
    OptCString(const char *what, const std::optional<std::string_view> &value) {
        if (value) value_.emplace(what, *value);
    }
    [[nodiscard]] const char *get() const noexcept { return value_ ? value_->get() : nullptr; }

private:
    std::optional<CString> value_;
};

inline const char *path_arg(const char *what, const std::filesystem::path &path) {
    if (path.native().find('\0') != std::string::npos)
        invalid(std::string(what) + " contains a NUL byte");
    return path.c_str();
}

inline std::uint32_t ms_arg(const char *what, std::chrono::milliseconds value) {
    if (value.count() < 0 ||
        static_cast<unsigned long long>(value.count()) > std::numeric_limits<std::uint32_t>::max())
        invalid(std::string(what) + " must be between 0 and 4294967295 ms, not " +
                std::to_string(value.count()) + " ms");
    return static_cast<std::uint32_t>(value.count());
}

using WriteFunction = std::function<bool(const std::uint8_t *, std::size_t)>;

struct WriteContext {
    const WriteFunction *write;
    std::exception_ptr error;
    std::uint64_t total;
};

using ProgressFunction = std::function<bool(std::uint64_t, std::optional<std::uint64_t>)>;

/// A Client's progress function, on the heap so that its address (the C
/// callback's user_data) survives moves of the Client; shared by the
/// ClientBuilder and every Client built from it, freed after the last of
/// them has freed its bb_client.
struct ProgressContext {
    ProgressFunction function;
};

/// Where the progress trampoline leaves an exception for the Client call
/// under way on this thread (NULL when none is).
inline std::exception_ptr *&progress_error_slot() noexcept {
    static thread_local std::exception_ptr *slot = nullptr;
    return slot;
}

/// One call of a Client that has a progress function: gives the trampoline
/// a place for an exception (per thread, so a Client shared between threads
/// sends each exception to its own call; nested calls keep theirs), and
/// rethrows it once the C call has returned.
class ProgressScope {
public:
    explicit ProgressScope(bool active) noexcept : active_(active) {
        if (active_) {
            outer_ = progress_error_slot();
            progress_error_slot() = &error_;
        }
    }
    ProgressScope(const ProgressScope &) = delete;
    ProgressScope &operator=(const ProgressScope &) = delete;
    ~ProgressScope() {
        if (active_) progress_error_slot() = outer_;
    }

    /// Rethrows the progress function's exception, if it threw one (the
    /// download was then cancelled), freeing `err`.
    void rethrow_if_thrown(bb_error *err) const {
        if (error_) {
            ErrorPtr discard(err);
            std::rethrow_exception(error_);
        }
    }
    /// rethrow_if_thrown, then detail::check.
    void check(bb_code rc, bb_error *const &err) const {
        rethrow_if_thrown(err);
        detail::check(rc, err);
    }

private:
    bool active_;
    std::exception_ptr *outer_ = nullptr;
    std::exception_ptr error_;
};

}  // namespace detail

}  // namespace browserbase

/// The C progress callback of a Client: calls its std::function and never
/// lets an exception into the C library (it cancels the download and is
/// rethrown by the Client method once the C call has returned).
extern "C" inline int browserbase_hpp_progress_trampoline(void *user_data, uint64_t received,
                                                          int64_t total) noexcept {
    const auto *context = static_cast<const browserbase::detail::ProgressContext *>(user_data);
    try {
        std::optional<std::uint64_t> known;
        if (total >= 0) known = static_cast<std::uint64_t>(total);
        return context->function(received, known) ? 0 : 1;
    } catch (...) {
        std::exception_ptr *slot = browserbase::detail::progress_error_slot();
        if (slot && !*slot) *slot = std::current_exception();
        return 1;
    }
}

/// The C callback of the streaming downloads: calls the std::function and
/// never lets an exception into the C library (it cancels the download and
/// is rethrown once the C call has returned).
extern "C" inline int browserbase_hpp_write_trampoline(void *user_data, const uint8_t *data,
                                                       size_t len) noexcept {
    auto *context = static_cast<browserbase::detail::WriteContext *>(user_data);
    try {
        if (!(*context->write)(data, len)) return 1;
        context->total += len;
        return 0;
    } catch (...) {
        context->error = std::current_exception();
        return 1;
    }
}

namespace browserbase {

/// How one session of a batch ended (Client::download_sessions).
struct SessionResult {
    std::string session_id;
    /// BB_OK, or the session's failure.
    bb_code code = BB_OK;
    /// The failure's reason (scrubbed of the key); empty on success.
    std::string message;

    [[nodiscard]] bool ok() const noexcept { return code == BB_OK; }
    /// Throws the exception a single download failing this way throws
    /// (NotFoundError, CancelledError...); does nothing on success.
    void throw_if_failed() const {
        if (code != BB_OK) throw_error(code, 0, message);
    }
};

namespace detail {

/// A batch call's results (filled from the batch progress callback's end
/// reports) and the caller's batch progress function, if any.
struct BatchContext {
    std::vector<SessionResult> *results;
    const std::function<bool(const bb_batch_progress &)> *user;
    std::exception_ptr error;
};

}  // namespace detail
}  // namespace browserbase

/// The C batch progress callback of Client::download_sessions: records each
/// session's end, calls the caller's function, and never lets an exception
/// into the C library (it cancels the batch and is rethrown afterwards).
extern "C" inline int browserbase_hpp_batch_trampoline(void *user_data,
                                                       const bb_batch_progress *p) noexcept {
    auto *context = static_cast<browserbase::detail::BatchContext *>(user_data);
    try {
        if (p->finished && p->index < context->results->size()) {
            auto &r = (*context->results)[p->index];
            r.code = p->code;
            r.message = p->message ? p->message : "";
        }
        if (context->user && *context->user && !(*context->user)(*p)) return 1;
        return 0;
    } catch (...) {
        if (!context->error) context->error = std::current_exception();
        return 1;
    }
}

namespace browserbase {

namespace detail {

/// Runs a batch: `run(ids, count, options, results)` is the C call. Returns
/// one SessionResult per id; throws only when the call was refused as a
/// whole (a bad argument: nothing was sent) or a callback threw.
template <class Run>
std::vector<SessionResult> run_batch(const std::vector<std::string> &session_ids,
                                     bb_call_options options,
                                     const std::function<bool(const bb_batch_progress &)> &user,
                                     const ProgressScope *scope, Run run) {
    std::vector<CString> owned;
    owned.reserve(session_ids.size());
    std::vector<const char *> ids;
    ids.reserve(session_ids.size());
    std::vector<SessionResult> results(session_ids.size());
    for (std::size_t i = 0; i < session_ids.size(); i++) {
        owned.emplace_back("session_ids", session_ids[i]);
        ids.push_back(owned.back().get());
        results[i].session_id = session_ids[i];
    }
    // Prefilled with BB_OK: a refused call leaves them so, a batch that ran
    // and failed has its failure's code in at least one.
    std::vector<bb_code> codes(session_ids.size(), BB_OK);
    BatchContext context{&results, &user, nullptr};
    options.batch_progress = &browserbase_hpp_batch_trampoline;
    options.batch_progress_user_data = &context;
    bb_error *err = nullptr;
    const bb_code rc = run(ids.empty() ? nullptr : ids.data(), ids.size(), &options,
                           codes.empty() ? nullptr : codes.data(), &err);
    if (context.error) {
        ErrorPtr discard(err);
        std::rethrow_exception(context.error);
    }
    if (scope) scope->rethrow_if_thrown(nullptr);
    bool ran = rc == BB_OK;
    for (bb_code c : codes) ran = ran || c != BB_OK;
    if (!ran) check(rc, err);
    ErrorPtr discard(err);
    for (std::size_t i = 0; i < codes.size(); i++) {
        results[i].code = codes[i];
        if (codes[i] == BB_OK) results[i].message.clear();
        else if (results[i].message.empty())
            results[i].message = codes[i] == BB_ERR_CANCELLED
                                     ? "not downloaded: the batch was cancelled"
                                     : bb_code_name(codes[i]);
    }
    return results;
}

}  // namespace detail

namespace detail {

inline std::uint64_t finish_streaming(bb_code rc, bb_error *err, WriteContext &context) {
    if (context.error) {
        ErrorPtr discard(err);
        std::rethrow_exception(context.error);
    }
    check(rc, err);
    return context.total;
}

}  // namespace detail

// ===========================================================================
// Buffers
// ===========================================================================

/// A buffer from a *_to_buffer function, owned without copying; freed with
/// bb_buffer_free. Move-only.
class Buffer {
public:
    Buffer() noexcept = default;
    /// Adopts `data` (`size` bytes) from the library.
    Buffer(std::uint8_t *data, std::size_t size) noexcept : data_(data), size_(size) {}
    Buffer(Buffer &&other) noexcept
        : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}
    Buffer &operator=(Buffer &&other) noexcept {
        if (this != &other) {
            reset();
            data_ = std::exchange(other.data_, nullptr);
            size_ = std::exchange(other.size_, 0);
        }
        return *this;
    }
    Buffer(const Buffer &) = delete;
    Buffer &operator=(const Buffer &) = delete;
    ~Buffer() { reset(); }

    [[nodiscard]] const std::uint8_t *data() const noexcept { return data_; }
    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] bool empty() const noexcept { return size_ == 0; }
    [[nodiscard]] const std::uint8_t *begin() const noexcept { return data_; }
    [[nodiscard]] const std::uint8_t *end() const noexcept { return data_ + size_; }
    [[nodiscard]] std::vector<std::uint8_t> to_vector() const { return {begin(), end()}; }

    /// Frees the buffer now.
    void reset() noexcept {
        bb_buffer_free(data_, size_);
        data_ = nullptr;
        size_ = 0;
    }

private:
    std::uint8_t *data_ = nullptr;
    std::size_t size_ = 0;
};

// ===========================================================================
// Settings
// ===========================================================================

/// How long to wait for a session's files. `timeout` 0 polls once; `stable`
/// also waits until two polls in a row see the same files (BB_WAIT_STABLE).
struct WaitOptions {
    std::chrono::milliseconds timeout = std::chrono::seconds(60);
    bool stable = false;
};

/// Receives a download's progress: `received` bytes so far and `total`, the
/// size the server announced (nullopt when unknown). Called before the first
/// byte (with 0) and after each chunk, on the thread that called the Client
/// method; a retried download, and each poll of a wait, starts again from 0.
/// Return true to go on, false to cancel (the call throws CancelledError).
/// An exception it throws cancels the download and propagates from the call.
/// A Client shared between threads may call it from several at once.
using ProgressFunction = detail::ProgressFunction;

/// Settings of a Client; unset fields keep the default. With `load_env`
/// (the default) the BROWSERBASE_* environment variables are applied first,
/// as the free functions' client does; the fields set here override them.
struct ClientOptions {
    bool load_env = true;
    std::optional<std::string> base_url;
    std::optional<std::string> api_key;
    std::optional<std::chrono::milliseconds> connect_timeout;
    std::optional<std::chrono::milliseconds> timeout;
    /// A limit on a whole call, retries and waits included; 0 = none.
    std::optional<std::chrono::milliseconds> deadline;
    std::optional<std::uint32_t> max_retries;
    std::optional<std::string> user_agent_suffix;
    /// PEM files of extra CA certificates to trust.
    std::vector<std::filesystem::path> ca_files;
    std::optional<std::string> proxy;
    std::optional<bool> fsync;
    /// The largest archive accepted, in bytes; 0 = none (the default). A
    /// larger one throws ApiStatusError (BB_ERR_HTTP, http_status 0), not
    /// retried, leaving nothing.
    std::optional<std::uint64_t> max_archive_bytes;
    /// Whether a retry after a cut body continues it (Range/If-Range) when
    /// the server allows; default on (see bb_client_builder_set_resume).
    std::optional<bool> resume;
    /// Told how every download through the client goes (see
    /// ProgressFunction); empty: none. The Client keeps its own copy.
    ProgressFunction progress;
};

/// An optional per-call API key. Empty (the default, std::nullopt, nullptr or
/// a NULL `const char *`) means the client's key, then BROWSERBASE_API_KEY.
/// Converts from a `const char *`, std::string or std::string_view, which is
/// only borrowed for the call.
class ApiKey {
public:
    ApiKey() noexcept = default;
    ApiKey(std::nullopt_t) noexcept {}
    ApiKey(std::nullptr_t) noexcept {}
    ApiKey(const char *key) noexcept {
        if (key) key_ = std::string_view(key);
    }
    ApiKey(std::string_view key) noexcept : key_(key) {}
    ApiKey(const std::string &key) noexcept : key_(std::string_view(key)) {}

    [[nodiscard]] const std::optional<std::string_view> &value() const noexcept { return key_; }

private:
    std::optional<std::string_view> key_;
};

/// A callable receiving each chunk of a streamed download: return true to go
/// on, false to cancel (the download then throws CancelledError). An
/// exception it throws cancels the download and propagates.
using WriteFunction = detail::WriteFunction;

/// A cancel handle (RAII over bb_cancel): pass it to calls through
/// CallOptions; trigger() makes them throw CancelledError within about
/// 100 ms, wherever they are, leaving nothing behind. trigger() is safe from
/// any thread and from a signal handler (it is bb_cancel_trigger: an atomic
/// store and one write(2)). Stays triggered: use one per operation. Must
/// outlive the calls using it (and any signal handler that may trigger it).
/// Move-only.
class Cancel {
public:
    Cancel() {
        bb_error *err = nullptr;
        const bb_code rc = bb_cancel_new(&ptr_, &err);
        detail::check(rc, err);
    }
    Cancel(Cancel &&other) noexcept : ptr_(std::exchange(other.ptr_, nullptr)) {}
    Cancel &operator=(Cancel &&other) noexcept {
        if (this != &other) {
            bb_cancel_free(ptr_);
            ptr_ = std::exchange(other.ptr_, nullptr);
        }
        return *this;
    }
    Cancel(const Cancel &) = delete;
    Cancel &operator=(const Cancel &) = delete;
    ~Cancel() { bb_cancel_free(ptr_); }

    /// Stops every call using this handle. Async-signal-safe; idempotent.
    void trigger() const noexcept { bb_cancel_trigger(ptr_); }
    /// Whether trigger() was called. Async-signal-safe.
    [[nodiscard]] bool triggered() const noexcept { return bb_cancel_is_triggered(ptr_) != 0; }
    /// The C handle (NULL once moved from); still owned by this object.
    [[nodiscard]] bb_cancel *get() const noexcept { return ptr_; }

private:
    bb_cancel *ptr_ = nullptr;
};

/// Per-call options of the Client and Archive methods that take them:
///
///     browserbase::Cancel cancel;
///     client.download(id, "out.zip", browserbase::CallOptions{&cancel, progress});
///
/// `cancel` (not owned; may be null) stops the call; `progress` (may be
/// empty) replaces the client's progress function for this call, as
/// ClientOptions::progress (returning false or throwing cancels).
struct CallOptions {
    const Cancel *cancel = nullptr;
    ProgressFunction progress;
};

/// Told how a batch goes (Client::download_sessions): each session's
/// progress and end, as bb_batch_progress says (one aggregate bar is
/// `(succeeded + failed) / count`), on the calling thread. Returning false
/// or throwing cancels the whole batch (a throw propagates from the call).
using BatchProgressFunction = std::function<bool(const bb_batch_progress &)>;

class ClientBuilder;

// ===========================================================================
// Client
// ===========================================================================

/// A bb_client: settings plus a pool of kept-alive connections. Move-only.
class Client {
public:
    /// A client with the environment's settings (BROWSERBASE_*), those of
    /// the free functions, but a connection pool of its own.
    Client() {
        bb_client *raw = nullptr;
        bb_error *err = nullptr;
        const bb_code rc = bb_client_new(nullptr, &raw, &err);
        detail::check(rc, err);
        ptr_.reset(raw);
    }
    /// A client with `options` (see ClientOptions).
    explicit Client(const ClientOptions &options);

    Client(Client &&) noexcept = default;
    Client &operator=(Client &&other) noexcept {
        if (this != &other) {
            ptr_ = std::move(other.ptr_);            // frees this bb_client first,
            progress_ = std::move(other.progress_);  // then what it was calling
        }
        return *this;
    }
    Client(const Client &) = delete;
    Client &operator=(const Client &) = delete;
    ~Client() = default;  // ptr_, declared last, is freed before progress_

    /// The C handle (NULL once moved from); still owned by this object.
    [[nodiscard]] bb_client *get() const noexcept { return ptr_.get(); }
    /// False once moved from.
    [[nodiscard]] explicit operator bool() const noexcept { return ptr_ != nullptr; }

    /// Downloads the archive to `path`, atomically (a failure leaves any
    /// file at `path` untouched).
    void download(std::string_view session_id, const std::filesystem::path &path,
                  ApiKey api_key = std::nullopt) const {
        download(session_id, path, CallOptions{}, api_key);
    }
    /// As download, with per-call options (a Cancel, a progress function).
    void download(std::string_view session_id, const std::filesystem::path &path,
                  const CallOptions &call, ApiKey api_key = std::nullopt) const {
        detail::OptCString key("api_key", api_key.value());
        detail::CString id("session_id", session_id);
        Call c(*this, call);
        bb_error *err = nullptr;
        const bb_code rc = bb_client_download_opts(handle(), key.get(), id.get(),
                                                   detail::path_arg("path", path), &c.options,
                                                   &err);
        c.scope.check(rc, err);
    }

    /// Downloads the archive into a library buffer, without copying it.
    [[nodiscard]] Buffer download_buffer(std::string_view session_id,
                                         ApiKey api_key = std::nullopt) const {
        return download_buffer(session_id, CallOptions{}, api_key);
    }
    /// As download_buffer, with per-call options.
    [[nodiscard]] Buffer download_buffer(std::string_view session_id, const CallOptions &call,
                                         ApiKey api_key = std::nullopt) const {
        detail::OptCString key("api_key", api_key.value());
        detail::CString id("session_id", session_id);
        std::uint8_t *data = nullptr;
        std::size_t len = 0;
        Call c(*this, call);
        bb_error *err = nullptr;
        const bb_code rc = bb_client_download_to_buffer_opts(handle(), key.get(), id.get(), &data,
                                                             &len, &c.options, &err);
        c.scope.check(rc, err);
        return Buffer(data, len);
    }

    /// Downloads the archive into a vector (one copy of the library's buffer).
    [[nodiscard]] std::vector<std::uint8_t> download_bytes(std::string_view session_id,
                                                           ApiKey api_key = std::nullopt) const {
        return download_buffer(session_id, api_key).to_vector();
    }
    /// As download_bytes, with per-call options.
    [[nodiscard]] std::vector<std::uint8_t> download_bytes(std::string_view session_id,
                                                           const CallOptions &call,
                                                           ApiKey api_key = std::nullopt) const {
        return download_buffer(session_id, call, api_key).to_vector();
    }

    /// Streams the archive chunk by chunk to `write`; returns the number of
    /// bytes it accepted. The start is checked to be a ZIP archive before
    /// the first chunk, the end (end record and central directory, see
    /// bb_download_session_to_callback) before this returns: treat the data
    /// as unverified until then.
    std::uint64_t download_to(std::string_view session_id, const WriteFunction &write,
                              ApiKey api_key = std::nullopt) const {
        return download_to(session_id, write, CallOptions{}, api_key);
    }
    /// As download_to, with per-call options.
    std::uint64_t download_to(std::string_view session_id, const WriteFunction &write,
                              const CallOptions &call, ApiKey api_key = std::nullopt) const {
        if (!write) detail::invalid("download_to: the write function is empty");
        detail::OptCString key("api_key", api_key.value());
        detail::CString id("session_id", session_id);
        detail::WriteContext context{&write, nullptr, 0};
        Call c(*this, call);
        bb_error *err = nullptr;
        bb_code rc = bb_client_download_to_callback_opts(handle(), key.get(), id.get(),
                                                         &browserbase_hpp_write_trampoline,
                                                         &context, &c.options, &err);
        c.scope.rethrow_if_thrown(err);
        return detail::finish_streaming(rc, err, context);
    }

    /// Polls until the session's archive holds a file (see WaitOptions),
    /// then writes it to `path` atomically. Runs out: NotReadyError.
    void wait_for_downloads(std::string_view session_id, const std::filesystem::path &path,
                            const WaitOptions &options = {},
                            ApiKey api_key = std::nullopt) const {
        wait_for_downloads(session_id, path, options, CallOptions{}, api_key);
    }
    /// As wait_for_downloads, with per-call options (a Cancel also ends
    /// the sleeps between polls).
    void wait_for_downloads(std::string_view session_id, const std::filesystem::path &path,
                            const WaitOptions &options, const CallOptions &call,
                            ApiKey api_key = std::nullopt) const {
        detail::OptCString key("api_key", api_key.value());
        detail::CString id("session_id", session_id);
        Call c(*this, call);
        bb_error *err = nullptr;
        const bb_code rc = bb_client_wait_for_downloads_opts(
            handle(), key.get(), id.get(), detail::ms_arg("timeout", options.timeout),
            flags(options), detail::path_arg("path", path), &c.options, &err);
        c.scope.check(rc, err);
    }

    /// As wait_for_downloads, returning the archive in memory.
    [[nodiscard]] std::vector<std::uint8_t> wait_for_downloads_bytes(
        std::string_view session_id, const WaitOptions &options = {},
        ApiKey api_key = std::nullopt) const {
        return wait_for_downloads_bytes(session_id, options, CallOptions{}, api_key);
    }
    /// As wait_for_downloads_bytes, with per-call options.
    [[nodiscard]] std::vector<std::uint8_t> wait_for_downloads_bytes(
        std::string_view session_id, const WaitOptions &options, const CallOptions &call,
        ApiKey api_key = std::nullopt) const {
        detail::OptCString key("api_key", api_key.value());
        detail::CString id("session_id", session_id);
        std::uint8_t *data = nullptr;
        std::size_t len = 0;
        Call c(*this, call);
        bb_error *err = nullptr;
        const bb_code rc = bb_client_wait_for_downloads_to_buffer_opts(
            handle(), key.get(), id.get(), detail::ms_arg("timeout", options.timeout),
            flags(options), &data, &len, &c.options, &err);
        c.scope.check(rc, err);
        return Buffer(data, len).to_vector();
    }

    /// Waits as wait_for_downloads, then extracts the files safely into
    /// `dir` (created if missing) under their original names.
    void extract_downloads(std::string_view session_id, const std::filesystem::path &dir,
                           const WaitOptions &options = {},
                           ApiKey api_key = std::nullopt) const {
        extract_downloads(session_id, dir, options, CallOptions{}, api_key);
    }
    /// As extract_downloads, with per-call options (a Cancel also stops the
    /// extraction, leaving `dir` as it was).
    void extract_downloads(std::string_view session_id, const std::filesystem::path &dir,
                           const WaitOptions &options, const CallOptions &call,
                           ApiKey api_key = std::nullopt) const {
        detail::OptCString key("api_key", api_key.value());
        detail::CString id("session_id", session_id);
        Call c(*this, call);
        bb_error *err = nullptr;
        const bb_code rc = bb_client_extract_downloads_opts(
            handle(), key.get(), id.get(), detail::ms_arg("timeout", options.timeout),
            flags(options), detail::path_arg("dir", dir), &c.options, &err);
        c.scope.check(rc, err);
    }

    /// Downloads each session of `session_ids` to `<dir>/<name>.zip` (name:
    /// the id, bytes outside `A-Za-z0-9._-` and a leading `.` written
    /// `%XX`), at most `concurrency` at once (0: 8; at most 64) on the
    /// calling thread, each atomically and with the client's retries on
    /// its own. Returns one SessionResult per id, in order: one session's
    /// failure never stops the others. Throws only when the call is refused
    /// before anything is sent (InvalidArgumentError: no ids, a bad or
    /// duplicate id, the message naming its index; LocalIoError: `dir` not
    /// an existing directory), or when a progress function threw. Cancelled
    /// (a Cancel, a progress function returning false), the sessions not
    /// finished are CancelledError results, and leave nothing.
    [[nodiscard]] std::vector<SessionResult> download_sessions(
        const std::vector<std::string> &session_ids, const std::filesystem::path &dir,
        unsigned int concurrency = 0, ApiKey api_key = std::nullopt) const {
        return download_sessions(session_ids, dir, concurrency, CallOptions{}, {}, api_key);
    }
    /// As download_sessions, with per-call options (a Cancel; a progress
    /// function, told each session's bytes) and a batch progress function
    /// (see BatchProgressFunction; may be empty).
    [[nodiscard]] std::vector<SessionResult> download_sessions(
        const std::vector<std::string> &session_ids, const std::filesystem::path &dir,
        unsigned int concurrency, const CallOptions &call,
        const BatchProgressFunction &batch_progress = {}, ApiKey api_key = std::nullopt) const {
        detail::OptCString key("api_key", api_key.value());
        const char *d = detail::path_arg("dir", dir);
        Call c(*this, call);
        const bb_client *h = handle();
        return detail::run_batch(
            session_ids, c.options, batch_progress, &c.scope,
            [&](const char *const *ids, std::size_t n, const bb_call_options *o, bb_code *codes,
                bb_error **err) {
                return bb_client_download_sessions_opts(h, key.get(), ids, n, d, concurrency, o,
                                                        codes, err);
            });
    }

private:
    friend class ClientBuilder;
    Client(bb_client *raw, std::shared_ptr<detail::ProgressContext> progress) noexcept
        : progress_(std::move(progress)), ptr_(raw) {}

    struct Deleter {
        void operator()(bb_client *client) const noexcept { bb_client_free(client); }
    };

    const bb_client *handle() const {
        if (!ptr_) detail::invalid("use of a moved-from browserbase::Client");
        return ptr_.get();
    }

    /// One call's bb_call_options, with the call's progress function (if
    /// any) behind the C trampoline, and the scope that rethrows what a
    /// progress function threw.
    struct Call {
        Call(const Client &client, const CallOptions &call)
            : context{call.progress},
              scope(client.progress_ != nullptr || static_cast<bool>(call.progress)) {
            options.cancel = call.cancel ? call.cancel->get() : nullptr;
            if (call.progress) {
                options.progress = &browserbase_hpp_progress_trampoline;
                options.progress_user_data = &context;
            }
        }
        Call(const Call &) = delete;
        Call &operator=(const Call &) = delete;
        detail::ProgressContext context;
        detail::ProgressScope scope;
        bb_call_options options = BB_CALL_OPTIONS_INIT;
    };
    static std::uint32_t flags(const WaitOptions &options) noexcept {
        return options.stable ? static_cast<std::uint32_t>(BB_WAIT_STABLE)
                              : static_cast<std::uint32_t>(BB_WAIT_DEFAULT);
    }

    // The order matters: members are destroyed last to first, so the
    // bb_client is freed while the progress function it calls still exists.
    std::shared_ptr<detail::ProgressContext> progress_;
    std::unique_ptr<bb_client, Deleter> ptr_;
};

/// Fluent settings for a Client; each setter checks its value at once
/// (throwing InvalidArgumentError). Starts from the built-in defaults:
///
///     auto client = browserbase::ClientBuilder()
///                       .load_env()
///                       .timeout(std::chrono::seconds(30))
///                       .max_retries(5)
///                       .build();
class ClientBuilder {
public:
    ClientBuilder() : ptr_(bb_client_builder_new()) {
        if (!ptr_) throw InternalError(BB_ERR_INTERNAL, 0, "bb_client_builder_new returned NULL");
    }
    ClientBuilder(ClientBuilder &&) noexcept = default;
    ClientBuilder &operator=(ClientBuilder &&) noexcept = default;
    ClientBuilder(const ClientBuilder &) = delete;
    ClientBuilder &operator=(const ClientBuilder &) = delete;
    ~ClientBuilder() = default;

    /// Applies the BROWSERBASE_* environment variables that are set.
    ClientBuilder &load_env() {
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_load_env(handle(), &err);
        detail::check(rc, err);
        return *this;
    }
    ClientBuilder &base_url(std::string_view url) {
        return set_string(bb_client_builder_set_base_url, "base_url", url);
    }
    ClientBuilder &api_key(std::string_view key) {
        return set_string(bb_client_builder_set_api_key, "api_key", key);
    }
    ClientBuilder &connect_timeout(std::chrono::milliseconds value) {
        return set_ms(bb_client_builder_set_connect_timeout_ms, "connect_timeout", value);
    }
    ClientBuilder &timeout(std::chrono::milliseconds value) {
        return set_ms(bb_client_builder_set_timeout_ms, "timeout", value);
    }
    ClientBuilder &deadline(std::chrono::milliseconds value) {
        return set_ms(bb_client_builder_set_deadline_ms, "deadline", value);
    }
    ClientBuilder &max_retries(std::uint32_t retries) {
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_set_max_retries(handle(), retries, &err);
        detail::check(rc, err);
        return *this;
    }
    ClientBuilder &user_agent_suffix(std::string_view suffix) {
        return set_string(bb_client_builder_set_user_agent_suffix, "user_agent_suffix", suffix);
    }
    /// Trusts the CA certificates in this PEM file too (read now).
    ClientBuilder &add_ca_file(const std::filesystem::path &pem) {
        bb_error *err = nullptr;
        const bb_code rc =
            bb_client_builder_add_ca_file(handle(), detail::path_arg("ca_file", pem), &err);
        detail::check(rc, err);
        return *this;
    }
    /// nullopt restores the default (HTTPS_PROXY/HTTP_PROXY/NO_PROXY).
    ClientBuilder &proxy(std::optional<std::string_view> url) {
        detail::OptCString value("proxy", url);
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_set_proxy(handle(), value.get(), &err);
        detail::check(rc, err);
        return *this;
    }
    ClientBuilder &fsync(bool enabled) {
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_set_fsync(handle(), enabled ? 1 : 0, &err);
        detail::check(rc, err);
        return *this;
    }
    /// Whether a retry after a cut body resumes it (default on).
    ClientBuilder &resume(bool enabled) {
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_set_resume(handle(), enabled ? 1 : 0, &err);
        detail::check(rc, err);
        return *this;
    }
    /// The largest archive accepted, in bytes; 0 = no limit (the default).
    ClientBuilder &max_archive_bytes(std::uint64_t max_bytes) {
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_set_max_archive_bytes(handle(), max_bytes, &err);
        detail::check(rc, err);
        return *this;
    }
    /// Tells `function` how every download through the clients built from
    /// here goes (see ProgressFunction); an empty function removes it. Each
    /// Client keeps the function alive (and at one address, however it is
    /// moved) until its bb_client is freed.
    ClientBuilder &progress(ProgressFunction function) {
        std::shared_ptr<detail::ProgressContext> context;
        bb_progress_callback callback = nullptr;
        if (function) {
            context = std::make_shared<detail::ProgressContext>();
            context->function = std::move(function);
            callback = &browserbase_hpp_progress_trampoline;
        }
        bb_error *err = nullptr;
        const bb_code rc = bb_client_builder_set_progress(handle(), callback, context.get(), &err);
        detail::check(rc, err);
        progress_ = std::move(context);
        return *this;
    }

    /// A client with these settings; the builder may be reused.
    [[nodiscard]] Client build() const {
        bb_client *raw = nullptr;
        bb_error *err = nullptr;
        const bb_code rc = bb_client_new(handle(), &raw, &err);
        detail::check(rc, err);
        return Client(raw, progress_);
    }

    /// The C handle (NULL once moved from); still owned by this object.
    [[nodiscard]] bb_client_builder *get() const noexcept { return ptr_.get(); }

private:
    struct Deleter {
        void operator()(bb_client_builder *builder) const noexcept {
            bb_client_builder_free(builder);
        }
    };
    using StringSetter = bb_code (*)(bb_client_builder *, const char *, bb_error **);
    using MsSetter = bb_code (*)(bb_client_builder *, std::uint32_t, bb_error **);

    bb_client_builder *handle() const {
        if (!ptr_) detail::invalid("use of a moved-from browserbase::ClientBuilder");
        return ptr_.get();
    }
    ClientBuilder &set_string(StringSetter setter, const char *what, std::string_view value) {
        detail::CString text(what, value);
        bb_error *err = nullptr;
        const bb_code rc = setter(handle(), text.get(), &err);
        detail::check(rc, err);
        return *this;
    }
    ClientBuilder &set_ms(MsSetter setter, const char *what, std::chrono::milliseconds value) {
        const std::uint32_t ms = detail::ms_arg(what, value);
        bb_error *err = nullptr;
        const bb_code rc = setter(handle(), ms, &err);
        detail::check(rc, err);
        return *this;
    }

    std::shared_ptr<detail::ProgressContext> progress_;  // set by progress()
    std::unique_ptr<bb_client_builder, Deleter> ptr_;
};

inline Client::Client(const ClientOptions &options) {
    ClientBuilder builder;
    if (options.load_env) builder.load_env();
    if (options.base_url) builder.base_url(*options.base_url);
    if (options.api_key) builder.api_key(*options.api_key);
    if (options.connect_timeout) builder.connect_timeout(*options.connect_timeout);
    if (options.timeout) builder.timeout(*options.timeout);
    if (options.deadline) builder.deadline(*options.deadline);
    if (options.max_retries) builder.max_retries(*options.max_retries);
    if (options.user_agent_suffix) builder.user_agent_suffix(*options.user_agent_suffix);
    for (const auto &pem : options.ca_files) builder.add_ca_file(pem);
    if (options.proxy) builder.proxy(std::string_view(*options.proxy));
    if (options.fsync) builder.fsync(*options.fsync);
    if (options.max_archive_bytes) builder.max_archive_bytes(*options.max_archive_bytes);
    if (options.resume) builder.resume(*options.resume);
    if (options.progress) builder.progress(options.progress);
    *this = builder.build();
}

// ===========================================================================
// Free functions: the library's process-wide default client
// ===========================================================================
//
// Settings come from the BROWSERBASE_* environment variables, read once, when
// the default client is first used; api_key nullopt reads BROWSERBASE_API_KEY.
// (Waiting for stable files needs a Client: the default client takes no flags.)

/// Downloads session `session_id`'s archive to `path`, atomically.
inline void download(std::string_view session_id, const std::filesystem::path &path,
                     ApiKey api_key = std::nullopt) {
    detail::OptCString key("api_key", api_key.value());
    detail::CString id("session_id", session_id);
    bb_error *err = nullptr;
    const bb_code rc =
        bb_download_session(key.get(), id.get(), detail::path_arg("path", path), &err);
    detail::check(rc, err);
}

/// Downloads the archive into a library buffer, without copying it.
[[nodiscard]] inline Buffer download_buffer(std::string_view session_id,
                                            ApiKey api_key = std::nullopt) {
    detail::OptCString key("api_key", api_key.value());
    detail::CString id("session_id", session_id);
    std::uint8_t *data = nullptr;
    std::size_t len = 0;
    bb_error *err = nullptr;
    const bb_code rc = bb_download_session_to_buffer(key.get(), id.get(), &data, &len, &err);
    detail::check(rc, err);
    return Buffer(data, len);
}

/// Downloads the archive into a vector.
[[nodiscard]] inline std::vector<std::uint8_t> download_bytes(std::string_view session_id,
                                                              ApiKey api_key = std::nullopt) {
    return download_buffer(session_id, api_key).to_vector();
}

/// Downloads many sessions into `dir` with the default client (see
/// Client::download_sessions).
[[nodiscard]] inline std::vector<SessionResult> download_sessions(
    const std::vector<std::string> &session_ids, const std::filesystem::path &dir,
    unsigned int concurrency = 0, ApiKey api_key = std::nullopt) {
    detail::OptCString key("api_key", api_key.value());
    const char *d = detail::path_arg("dir", dir);
    bb_call_options options = BB_CALL_OPTIONS_INIT;
    return detail::run_batch(session_ids, options, {}, nullptr,
                             [&](const char *const *ids, std::size_t n, const bb_call_options *o,
                                 bb_code *codes, bb_error **err) {
                                 return bb_client_download_sessions_opts(
                                     nullptr, key.get(), ids, n, d, concurrency, o, codes, err);
                             });
}

/// Streams the archive to `write` (see Client::download_to).
inline std::uint64_t download_to(std::string_view session_id, const WriteFunction &write,
                                 ApiKey api_key = std::nullopt) {
    if (!write) detail::invalid("download_to: the write function is empty");
    detail::OptCString key("api_key", api_key.value());
    detail::CString id("session_id", session_id);
    detail::WriteContext context{&write, nullptr, 0};
    bb_error *err = nullptr;
    bb_code rc = bb_download_session_to_callback(key.get(), id.get(),
                                                 &browserbase_hpp_write_trampoline, &context, &err);
    return detail::finish_streaming(rc, err, context);
}

/// Polls up to `timeout` until the session's archive holds a file, then
/// writes it to `path` atomically. Runs out: NotReadyError.
inline void wait_for_downloads(std::string_view session_id, const std::filesystem::path &path,
                               std::chrono::milliseconds timeout = std::chrono::seconds(60),
                               ApiKey api_key = std::nullopt) {
    detail::OptCString key("api_key", api_key.value());
    detail::CString id("session_id", session_id);
    bb_error *err = nullptr;
    const bb_code rc =
        bb_wait_for_downloads(key.get(), id.get(), detail::ms_arg("timeout", timeout),
                              detail::path_arg("path", path), &err);
    detail::check(rc, err);
}

/// As wait_for_downloads, returning the archive in memory.
[[nodiscard]] inline std::vector<std::uint8_t> wait_for_downloads_bytes(
    std::string_view session_id, std::chrono::milliseconds timeout = std::chrono::seconds(60),
    ApiKey api_key = std::nullopt) {
    detail::OptCString key("api_key", api_key.value());
    detail::CString id("session_id", session_id);
    std::uint8_t *data = nullptr;
    std::size_t len = 0;
    bb_error *err = nullptr;
    const bb_code rc = bb_wait_for_downloads_to_buffer(
        key.get(), id.get(), detail::ms_arg("timeout", timeout), &data, &len, &err);
    detail::check(rc, err);
    return Buffer(data, len).to_vector();
}

/// Waits up to `timeout` for the session's files, then extracts them safely
/// into `dir`.
inline void extract_downloads(std::string_view session_id, const std::filesystem::path &dir,
                              std::chrono::milliseconds timeout = std::chrono::seconds(60),
                              ApiKey api_key = std::nullopt) {
    detail::OptCString key("api_key", api_key.value());
    detail::CString id("session_id", session_id);
    bb_error *err = nullptr;
    const bb_code rc =
        bb_extract_downloads(key.get(), id.get(), detail::ms_arg("timeout", timeout),
                             detail::path_arg("dir", dir), &err);
    detail::check(rc, err);
}

// ===========================================================================
// Archives
// ===========================================================================

/// One entry of an archive, copied out of it (valid after the Archive is gone).
struct Entry {
    /// The name as stored ("report-1719265797164.pdf"); a directory's ends
    /// with '/'. It may be hostile ("../x"): extract with Archive::extract_to.
    std::string name;
    /// Without the service's timestamp: "report.pdf".
    std::string original_name;
    /// Uncompressed size, as the archive declares it.
    std::uint64_t size = 0;
    /// Modification time in seconds since 1970 (UTC); -1 when none.
    std::int64_t mtime_unix = -1;
    /// Download time in milliseconds since 1970 (from the name); -1 when none.
    std::int64_t download_time_ms = -1;

    [[nodiscard]] bool is_dir() const noexcept {
        return !name.empty() && name.back() == '/';
    }
    /// mtime_unix as a time point; nullopt when none or out of range.
    [[nodiscard]] std::optional<std::chrono::system_clock::time_point> mtime() const noexcept {
        return to_time(std::chrono::seconds(mtime_unix));
    }
    /// download_time_ms as a time point; nullopt when none or out of range.
    [[nodiscard]] std::optional<std::chrono::system_clock::time_point> download_time()
        const noexcept {
        return to_time(std::chrono::milliseconds(download_time_ms));
    }

private:
    template <class Duration>
    static std::optional<std::chrono::system_clock::time_point> to_time(
        Duration since_epoch) noexcept {
        using Clock = std::chrono::system_clock;
        if (since_epoch.count() < 0) return std::nullopt;
        const auto limit = std::chrono::duration_cast<Duration>(Clock::duration::max());
        if (since_epoch >= limit) return std::nullopt;
        return Clock::time_point(std::chrono::duration_cast<Clock::duration>(since_epoch));
    }
};

/// An opened ZIP archive (bb_archive): its entries, and safe extraction.
/// Move-only. A file stays open until the Archive is destroyed.
class Archive {
public:
    /// Opens the archive in the file at `path`.
    [[nodiscard]] static Archive open(const std::filesystem::path &path) {
        bb_archive *raw = nullptr;
        bb_error *err = nullptr;
        const bb_code rc = bb_archive_open_file(detail::path_arg("path", path), &raw, &err);
        detail::check(rc, err);
        return Archive(raw);
    }
    /// Opens the archive in `len` bytes at `data` (copied: free them after).
    [[nodiscard]] static Archive from_bytes(const std::uint8_t *data, std::size_t len) {
        bb_archive *raw = nullptr;
        bb_error *err = nullptr;
        const bb_code rc = bb_archive_open_buffer(data, len, &raw, &err);
        detail::check(rc, err);
        return Archive(raw);
    }
    [[nodiscard]] static Archive from_bytes(const std::vector<std::uint8_t> &bytes) {
        return from_bytes(bytes.data(), bytes.size());
    }
    [[nodiscard]] static Archive from_bytes(const Buffer &buffer) {
        return from_bytes(buffer.data(), buffer.size());
    }

    Archive(Archive &&) noexcept = default;
    Archive &operator=(Archive &&) noexcept = default;
    Archive(const Archive &) = delete;
    Archive &operator=(const Archive &) = delete;
    ~Archive() = default;

    /// The number of entries (0 for the service's empty archive).
    [[nodiscard]] std::size_t size() const noexcept { return bb_archive_entry_count(ptr_.get()); }
    [[nodiscard]] bool empty() const noexcept { return size() == 0; }

    /// Entry `index`; InvalidArgumentError past the end.
    [[nodiscard]] Entry entry(std::size_t index) const {
        bb_archive_entry raw = BB_ARCHIVE_ENTRY_INIT;  // struct_size: this header's
        bb_error *err = nullptr;
        const bb_code rc = bb_archive_entry_at(handle(), index, &raw, &err);
        detail::check(rc, err);
        Entry entry;
        entry.name = raw.name ? raw.name : "";
        entry.original_name = raw.original_name ? raw.original_name : "";
        entry.size = raw.size;
        entry.mtime_unix = raw.mtime_unix;
        entry.download_time_ms = raw.download_time_ms;
        return entry;
    }

    /// Every entry, in the archive's order.
    [[nodiscard]] std::vector<Entry> entries() const {
        std::vector<Entry> all;
        const std::size_t count = size();
        all.reserve(count);
        for (std::size_t i = 0; i < count; ++i) all.push_back(entry(i));
        return all;
    }

    /// The zip-bomb limits of extract_to: the most bytes one extraction may
    /// write (0: the default, 4 GiB) and the most an entry may expand (0: the
    /// default, 200; checked past 1 MiB).
    void set_limits(std::uint64_t max_total_bytes, std::uint32_t max_ratio) {
        handle();  // throws when moved from
        bb_error *err = nullptr;
        const bb_code rc = bb_archive_set_limits(ptr_.get(), max_total_bytes, max_ratio, &err);
        detail::check(rc, err);
    }

    /// Extracts every entry safely into `dir` (created if missing): an
    /// unsafe name, a link or an encrypted entry refuses the whole archive
    /// (InvalidArchiveError, nothing written); a failure leaves `dir` as it was.
    void extract_to(const std::filesystem::path &dir) const { extract_to(dir, CallOptions{}); }
    /// As extract_to, stopped by `call.cancel` (CancelledError, `dir` left
    /// as it was); extraction reports no progress.
    void extract_to(const std::filesystem::path &dir, const CallOptions &call) const {
        bb_call_options options = BB_CALL_OPTIONS_INIT;
        options.cancel = call.cancel ? call.cancel->get() : nullptr;
        bb_error *err = nullptr;
        const bb_code rc =
            bb_archive_extract_to_opts(handle(), detail::path_arg("dir", dir), &options, &err);
        detail::check(rc, err);
    }

    /// The C handle (NULL once moved from); still owned by this object.
    [[nodiscard]] bb_archive *get() const noexcept { return ptr_.get(); }

private:
    explicit Archive(bb_archive *raw) noexcept : ptr_(raw) {}

    struct Deleter {
        void operator()(bb_archive *archive) const noexcept { bb_archive_free(archive); }
    };

    const bb_archive *handle() const {
        if (!ptr_) detail::invalid("use of a moved-from browserbase::Archive");
        return ptr_.get();
    }

    std::unique_ptr<bb_archive, Deleter> ptr_;
};

/// Extracts the archive at `zip_path` safely into `dir` with the default
/// limits (Archive::open(zip_path).extract_to(dir)).
inline void extract(const std::filesystem::path &zip_path, const std::filesystem::path &dir) {
    bb_error *err = nullptr;
    const bb_code rc = bb_archive_extract(detail::path_arg("zip_path", zip_path),
                                          detail::path_arg("dir", dir), &err);
    detail::check(rc, err);
}

// ===========================================================================
// Logging
// ===========================================================================

/// How much a log line matters (bb_log_level). A handler set to a level
/// receives that level and everything more severe.
enum class LogLevel : int {
    off = BB_LOG_OFF,      ///< As a maximum: no lines at all.
    error = BB_LOG_ERROR,  ///< Failures.
    warn = BB_LOG_WARN,    ///< Retries.
    info = BB_LOG_INFO,    ///< One line per request: path, status, bytes, time, attempt.
    debug = BB_LOG_DEBUG,  ///< Also redirects and other details.
};

/// "off", "error", "warn", "info" or "debug" ("unknown" for anything else).
[[nodiscard]] inline std::string_view log_level_name(LogLevel level) noexcept {
    switch (level) {
    case LogLevel::off: return "off";
    case LogLevel::error: return "error";
    case LogLevel::warn: return "warn";
    case LogLevel::info: return "info";
    case LogLevel::debug: return "debug";
    }
    return "unknown";
}

/// Receives one log line (UTF-8, no trailing newline, never the API key);
/// the string_view is valid only during the call.
using LogHandler = std::function<void(LogLevel, std::string_view)>;

namespace detail {

/// An installed handler and how many of its calls are under way.
struct LogHandlerBox {
    explicit LogHandlerBox(LogHandler f) : function(std::move(f)) {}
    LogHandler function;
    std::size_t running = 0;  // guarded by LogState::mutex
};

struct LogState {
    std::mutex mutex;
    std::condition_variable finished;  // a handler call returned
    std::shared_ptr<LogHandlerBox> handler;
};

/// The process-wide handler. Never destroyed: a line logged by another
/// thread while the program exits must not find it gone.
inline LogState &log_state() {
    static LogState *const state = new LogState();
    return *state;
}

/// How many handler calls this thread is inside (a handler may replace the
/// handler; it must not then wait for itself).
inline int &log_handler_depth() noexcept {
    static thread_local int depth = 0;
    return depth;
}

/// Serializes set_log_handler / reset_log_handler calls (never taken by the
/// trampoline). Never destroyed, like the state.
inline std::mutex &log_setter_mutex() {
    static std::mutex *const mutex = new std::mutex();
    return *mutex;
}

/// Installs `callback` in the library and `next` (NULL: none) as the
/// handler, then waits until the replaced handler's calls on other threads
/// have returned. The library call is made without `state.mutex`: it waits
/// for callback calls under way, and those take `state.mutex` to finish.
inline void replace_log_handler(bb_log_callback callback, bb_log_level max,
                                std::shared_ptr<LogHandlerBox> next) {
    LogState &state = log_state();
    // Setters take turns; from inside a handler, not (a setter on another
    // thread may be waiting for this very call to return).
    std::unique_lock<std::mutex> turn(log_setter_mutex(), std::defer_lock);
    if (log_handler_depth() == 0) turn.lock();
    bb_error *err = nullptr;
    const bb_code rc = bb_set_log_callback(callback, nullptr, max, &err);
    check(rc, err);  // a refused level throws here: the previous handler stays
    std::shared_ptr<LogHandlerBox> old;  // released after the lock
    {
        std::unique_lock<std::mutex> lock(state.mutex);
        old = std::exchange(state.handler, std::move(next));
        if (old && log_handler_depth() == 0)
            state.finished.wait(lock, [&old] { return old->running == 0; });
    }
}

}  // namespace detail

}  // namespace browserbase

/// The C log callback: takes the current handler (counting the call, so that
/// replacing it can wait for the call to end), calls it outside the lock (so
/// that lines from many threads do not wait on one another, and a handler may
/// itself call set_log_handler), and never lets an exception into the C
/// library (the line is dropped).
extern "C" inline void browserbase_hpp_log_trampoline(void *, bb_log_level level,
                                                     const char *message) noexcept {
    try {
        browserbase::detail::LogState &state = browserbase::detail::log_state();
        std::shared_ptr<browserbase::detail::LogHandlerBox> box;
        {
            const std::lock_guard<std::mutex> lock(state.mutex);
            if (!state.handler) return;
            box = state.handler;
            ++box->running;
        }
        ++browserbase::detail::log_handler_depth();
        try {
            box->function(static_cast<browserbase::LogLevel>(level),
                          message ? std::string_view(message) : std::string_view());
        } catch (...) {
            // Nowhere to report it from inside the library: the line is dropped.
        }
        --browserbase::detail::log_handler_depth();
        {
            const std::lock_guard<std::mutex> lock(state.mutex);
            --box->running;
        }
        state.finished.notify_all();
    } catch (...) {
    }
}

namespace browserbase {

/// Restores the library's default logging: stderr, at the level of the
/// BROWSERBASE_LOG environment variable (unset: nothing). When it returns,
/// the previous handler is no longer running on any other thread.
inline void reset_log_handler() {
    // NULL with any level but BB_LOG_OFF restores the default (NULL with
    // BB_LOG_OFF would silence the library instead).
    detail::replace_log_handler(nullptr, BB_LOG_ERROR, nullptr);
}

/// Sends the library's log lines at `max` and more severe to `handler`,
/// for the whole process, instead of stderr (LogLevel::off: no lines at
/// all). The handler is called from whichever thread is downloading,
/// possibly from several at once; it should be quick, and must not wait for
/// a thread that is replacing the handler. An exception it throws is
/// swallowed (the line is lost). It stays installed until the next
/// set_log_handler or reset_log_handler, which return only once the
/// replaced handler has finished every call under way on other threads
/// (when called from inside a handler, they do not wait): a handler may
/// capture locals by reference if it is reset before they go. An empty
/// handler is reset_log_handler(). A level that is not a LogLevel:
/// InvalidArgumentError, and the previous handler stays.
inline void set_log_handler(LogHandler handler, LogLevel max = LogLevel::info) {
    if (!handler) {
        reset_log_handler();
        return;
    }
    detail::replace_log_handler(&browserbase_hpp_log_trampoline, static_cast<bb_log_level>(max),
                                std::make_shared<detail::LogHandlerBox>(std::move(handler)));
}

// ===========================================================================
// Misc
// ===========================================================================

/// The loaded library's version, such as "0.1.0" (BB_VERSION_STRING is the
/// header's).
[[nodiscard]] inline std::string_view version() noexcept { return bb_version(); }

/// The loaded library's version as (major << 16) | (minor << 8) | patch;
/// BB_VERSION_NUMBER is the header's. `version_number() >= BB_VERSION_NUMBER`
/// tells that the loaded library is at least the one compiled against.
[[nodiscard]] inline std::uint32_t version_number() noexcept { return bb_version_number(); }

/// A code's name, such as "BB_ERR_NOT_FOUND".
[[nodiscard]] inline std::string_view code_name(bb_code code) noexcept {
    return bb_code_name(code);
}

}  // namespace browserbase

#endif  // BROWSERBASE_HPP
