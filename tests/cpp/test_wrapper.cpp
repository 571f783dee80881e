// test_wrapper: include/browserbase.hpp (the header-only C++17 wrapper)
// against the real library and a running bb-stand-in-server --demo.
//
// Built by tests/cpp_wrapper.rs with -std=c++17 -Wall -Wextra -Werror
// -Wpedantic. Environment (set by the harness):
//   BROWSERBASE_BASE_URL, BROWSERBASE_API_KEY  the server and its key
//   BB_TEST_DIR                                an empty scratch directory
//   BB_TEST_SYNC_SESSION     a session answering the empty archive for a while
//   BB_TEST_CONFLICT_SESSION a session whose next answer is HTTP 409
//   BB_TEST_RESET_SESSION    a session whose next request is reset
//   BB_TEST_STALL_SESSION    a session whose next answer stalls 3 s
//   BB_TEST_CANCEL_SESSION   a session only the cancelled download uses
//   BB_TEST_HANG_SESSION, BB_TEST_HANG_SESSION2  sessions whose next answer
//                            stalls 60 s after its first bytes (a Cancel ends it)
//
// Prints TAP-style lines and "N passed, M failed"; exits 1 if a check failed.

#include "browserbase.hpp"

#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iterator>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <vector>

namespace bb = browserbase;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

// What the wrapper promises at compile time.
static_assert(!std::is_copy_constructible_v<bb::Client>, "Client is move-only");
static_assert(!std::is_copy_assignable_v<bb::Client>, "Client is move-only");
static_assert(std::is_nothrow_move_constructible_v<bb::Client>, "Client moves never throw");
static_assert(std::is_nothrow_move_assignable_v<bb::Client>, "Client moves never throw");
static_assert(!std::is_copy_constructible_v<bb::Archive>, "Archive is move-only");
static_assert(std::is_nothrow_move_constructible_v<bb::Archive>, "Archive moves never throw");
static_assert(!std::is_copy_constructible_v<bb::Buffer>, "Buffer is move-only");
static_assert(std::is_nothrow_move_constructible_v<bb::Buffer>, "Buffer moves never throw");
static_assert(std::is_nothrow_destructible_v<bb::Client>);
static_assert(std::is_base_of_v<std::runtime_error, bb::Error>);
static_assert(std::is_base_of_v<bb::ApiStatusError, bb::NotFoundError>);
static_assert(std::is_base_of_v<bb::ConnectionError, bb::TimeoutError>);
static_assert(std::is_base_of_v<bb::ApiError, bb::ConnectionError>);
static_assert(noexcept(bb::version()));
static_assert(noexcept(bb::version_number()));
static_assert(std::is_same_v<bb::ProgressFunction,
                             std::function<bool(std::uint64_t, std::optional<std::uint64_t>)>>);
static_assert(std::is_same_v<bb::LogHandler, std::function<void(bb::LogLevel, std::string_view)>>);
static_assert(static_cast<int>(bb::LogLevel::off) == BB_LOG_OFF &&
              static_cast<int>(bb::LogLevel::error) == BB_LOG_ERROR &&
              static_cast<int>(bb::LogLevel::warn) == BB_LOG_WARN &&
              static_cast<int>(bb::LogLevel::info) == BB_LOG_INFO &&
              static_cast<int>(bb::LogLevel::debug) == BB_LOG_DEBUG);
static_assert(noexcept(std::declval<const bb::Error &>().code()));
static_assert(noexcept(std::declval<const bb::Error &>().http_status()));

namespace {

int checks_run = 0;
int checks_failed = 0;

void check(bool ok, const std::string &what, const std::string &details = "") {
    ++checks_run;
    if (ok) {
        std::printf("ok %d - %s\n", checks_run, what.c_str());
    } else {
        ++checks_failed;
        std::printf("not ok %d - %s: %s\n", checks_run, what.c_str(), details.c_str());
    }
    std::fflush(stdout);
}

std::string env(const char *name) {
    const char *value = std::getenv(name);
    if (!value || !*value) {
        std::printf("Bail out! %s is not set\n", name);
        std::exit(2);
    }
    return value;
}

std::string describe(const bb::Error &e) {
    return std::string(e.code_name()) + " (HTTP " + std::to_string(e.http_status()) +
           "): " + e.what();
}

// Runs `body`, expecting exception type E with `code` (and `status` if >= 0).
template <class E, class Body>
void expect_error(const std::string &what, bb_code code, int status, Body body) {
    try {
        body();
        check(false, what, "no exception");
    } catch (const E &e) {
        bool ok = e.code() == code && (status < 0 || e.http_status() == status) &&
                  std::strlen(e.what()) > 0;
        check(ok, what, describe(e));
    } catch (const bb::Error &e) {
        check(false, what, "another exception class: " + describe(e));
    } catch (const std::exception &e) {
        check(false, what, std::string("not a browserbase::Error: ") + e.what());
    }
}

std::vector<std::uint8_t> read_file(const fs::path &path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

bool is_zip(const std::vector<std::uint8_t> &bytes) {
    return bytes.size() >= 4 && bytes[0] == 'P' && bytes[1] == 'K';
}

std::set<std::string> original_names(const std::vector<bb::Entry> &entries) {
    std::set<std::string> names;
    for (const auto &e : entries) names.insert(e.original_name);
    return names;
}

constexpr const char *DEMO = "0b5e3a7c-9d2f-4c61-8e4a-5f3b2a1c9d80";
constexpr const char *EMPTY = "1c6f4b8d-ae30-4d72-9f5b-6a4c3b2d0e91";
constexpr const char *UNKNOWN = "00000000-0000-4000-8000-000000000000";
constexpr std::int64_t DEMO_PDF_MS = 1719265797164;

struct Boom : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// One call of a progress function.
struct Report {
    std::uint64_t received;
    std::optional<std::uint64_t> total;
};

std::string describe(const std::vector<Report> &reports) {
    std::string text;
    for (const Report &r : reports) {
        text += "(" + std::to_string(r.received) + ", " +
                (r.total ? std::to_string(*r.total) : std::string("?")) + ") ";
    }
    return text.empty() ? "no calls" : text;
}

// From (0, size) to (size, size), never backwards, total always `size`.
bool from_zero_to(const std::vector<Report> &reports, std::uint64_t size) {
    if (reports.size() < 2 || reports.front().received != 0 || reports.back().received != size)
        return false;
    for (std::size_t i = 0; i < reports.size(); ++i) {
        if (reports[i].total != size) return false;
        if (i > 0 && reports[i].received < reports[i - 1].received) return false;
    }
    return true;
}

// Set on a thread whose downloads the shared progress function should fail.
thread_local bool progress_throws_here = false;

// Log lines as a handler received them.
struct LogLines {
    std::mutex mutex;
    std::vector<std::pair<bb::LogLevel, std::string>> lines;

    bb::LogHandler handler() {
        return [this](bb::LogLevel level, std::string_view line) {
            const std::lock_guard<std::mutex> lock(mutex);
            lines.emplace_back(level, std::string(line));
        };
    }
    std::vector<std::pair<bb::LogLevel, std::string>> take() {
        const std::lock_guard<std::mutex> lock(mutex);
        return std::exchange(lines, {});
    }
};

// The log handler refers to locals: never leave it installed past them.
struct ResetLogHandlerOnExit {
    ResetLogHandlerOnExit() = default;
    ResetLogHandlerOnExit(const ResetLogHandlerOnExit &) = delete;
    ResetLogHandlerOnExit &operator=(const ResetLogHandlerOnExit &) = delete;
    ~ResetLogHandlerOnExit() {
        try {
            bb::reset_log_handler();
        } catch (...) {
        }
    }
};

bb::ClientOptions options_for(const std::string &base_url) {
    bb::ClientOptions options;
    options.base_url = base_url;
    options.api_key = "bb_test_key";
    options.connect_timeout = 2s;
    options.timeout = 5s;
    options.deadline = 30s;
    options.max_retries = 0;
    options.user_agent_suffix = "cpp-wrapper-test/1";
    options.fsync = true;
    options.resume = true;
    return options;
}

}  // namespace

// The Cancel a SIGUSR1 handler triggers (trigger() is async-signal-safe).
static const bb::Cancel *volatile signal_cancel = nullptr;

extern "C" void on_sigusr1(int) {
    if (const bb::Cancel *c = signal_cancel) c->trigger();
}


int main() {
    const std::string base_url = env("BROWSERBASE_BASE_URL");
    const fs::path dir = env("BB_TEST_DIR");
    const std::string sync_session = env("BB_TEST_SYNC_SESSION");
    const std::string conflict_session = env("BB_TEST_CONFLICT_SESSION");
    const std::string reset_session = env("BB_TEST_RESET_SESSION");
    const std::string stall_session = env("BB_TEST_STALL_SESSION");
    const std::string cancel_session = env("BB_TEST_CANCEL_SESSION");
    const std::string hang_session = env("BB_TEST_HANG_SESSION");
    const std::string hang_session2 = env("BB_TEST_HANG_SESSION2");
    {
        struct sigaction action;
        std::memset(&action, 0, sizeof action);
        action.sa_handler = on_sigusr1;
        sigemptyset(&action.sa_mask);
        sigaction(SIGUSR1, &action, nullptr);
    }

    try {
        check(bb::version() == BB_VERSION_STRING, "version() == BB_VERSION_STRING",
              std::string(bb::version()));
        check(bb::code_name(BB_ERR_NOT_FOUND) == "BB_ERR_NOT_FOUND", "code_name()");
        check(bb::version_number() == BB_VERSION_NUMBER && bb::version_number() >= BB_VERSION_NUMBER,
              "version_number() == BB_VERSION_NUMBER", std::to_string(bb::version_number()));

        // ---- Free functions: the default client --------------------------
        const fs::path free_zip = dir / "free.zip";
        bb::download(DEMO, free_zip);
        const std::vector<std::uint8_t> archive = read_file(free_zip);
        check(is_zip(archive), "download() writes the archive to a file",
              std::to_string(archive.size()) + " bytes");
        check(bb::download_bytes(DEMO) == archive, "download_bytes() == the file");
        {
            bb::Buffer buffer = bb::download_buffer(std::string(DEMO));
            check(std::equal(buffer.begin(), buffer.end(), archive.begin(), archive.end()),
                  "download_buffer() adopts the library's buffer");
            bb::Buffer moved = std::move(buffer);
            check(buffer.empty() && buffer.data() == nullptr && moved.size() == archive.size(),
                  "a moved Buffer owns nothing");
        }
        std::vector<std::uint8_t> streamed;
        const std::uint64_t count =
            bb::download_to(DEMO, [&](const std::uint8_t *data, std::size_t len) {
                streamed.insert(streamed.end(), data, data + len);
                return true;
            });
        check(streamed == archive && count == archive.size(),
              "download_to() streams the archive to a function");
        check(bb::wait_for_downloads_bytes(DEMO, 5s) == archive,
              "wait_for_downloads_bytes() of a ready session");
        bb::wait_for_downloads(DEMO, dir / "waited.zip", 5s);
        check(read_file(dir / "waited.zip") == archive, "wait_for_downloads() to a file");

        // ---- A Client from options ----------------------------------------
        bb::Client client(options_for(base_url));
        check(static_cast<bool>(client) && client.get() != nullptr, "Client(ClientOptions)");
        client.download(DEMO, dir / "client.zip");
        check(read_file(dir / "client.zip") == archive, "Client::download()");
        check(client.download_bytes(DEMO) == archive, "Client::download_bytes()");
        check(client.download_buffer(DEMO).to_vector() == archive, "Client::download_buffer()");
        std::size_t chunks = 0;
        streamed.clear();
        client.download_to(DEMO, [&](const std::uint8_t *data, std::size_t len) {
            ++chunks;
            streamed.insert(streamed.end(), data, data + len);
            return true;
        });
        check(streamed == archive && chunks >= 1, "Client::download_to()");

        // ---- Many sessions in one call ------------------------------------
        {
            const fs::path batch_dir = dir / "batch";
            fs::create_directory(batch_dir);
            const std::vector<std::string> ids{DEMO, "cpp-batch-missing"};
            std::size_t ends = 0;
            bool other_thread = false;
            const auto caller = std::this_thread::get_id();
            const bb::BatchProgressFunction batch_progress = [&](const bb_batch_progress &p) {
                if (p.finished) ++ends;
                other_thread |= std::this_thread::get_id() != caller;
                return true;
            };
            const std::vector<bb::SessionResult> results =
                client.download_sessions(ids, batch_dir, 2, bb::CallOptions{}, batch_progress);
            check(results.size() == 2 && results[0].ok() && results[0].session_id == DEMO &&
                      read_file(batch_dir / (std::string(DEMO) + ".zip")) == archive,
                  "Client::download_sessions(): a success, its file");
            check(!results[1].ok() && results[1].code == BB_ERR_NOT_FOUND &&
                      results[1].message.find("404") != std::string::npos &&
                      !fs::exists(batch_dir / "cpp-batch-missing.zip"),
                  "Client::download_sessions(): a failure, its reason, no file",
                  results[1].message);
            bool thrown = false;
            try {
                results[1].throw_if_failed();
            } catch (const bb::NotFoundError &) {
                thrown = true;
            }
            check(thrown, "SessionResult::throw_if_failed() throws the class of its code");
            check(ends == 2 && !other_thread, "batch_progress: one end per session, this thread");
            bool refused = false;
            try {
                (void)client.download_sessions({DEMO, DEMO}, batch_dir);
            } catch (const bb::InvalidArgumentError &e) {
                refused = std::string(e.what()).find("duplicate") != std::string::npos;
            }
            check(refused, "a duplicate id throws InvalidArgumentError");
            const std::vector<bb::SessionResult> free_results =
                bb::download_sessions({std::string(DEMO)}, batch_dir);
            check(free_results.size() == 1 && free_results[0].ok(),
                  "download_sessions() with the default client");
        }

        // ---- A Client from the fluent builder ------------------------------
        bb::Client built = bb::ClientBuilder()
                               .load_env()
                               .base_url(base_url)
                               .api_key(std::string("bb_test_key"))
                               .connect_timeout(2s)
                               .timeout(5s)
                               .deadline(0ms)
                               .max_retries(1)
                               .user_agent_suffix("cpp-wrapper-test/1")
                               .proxy(std::nullopt)
                               .fsync(false)
                               .resume(false)
                               .build();
        check(built.download_bytes(DEMO) == archive, "ClientBuilder()...build()");
        check(bb::Client().download_bytes(DEMO) == archive,
              "Client() takes the environment's settings");

        // ---- Errors: code and status ---------------------------------------
        expect_error<bb::NotFoundError>("unknown session: NotFoundError, 404", BB_ERR_NOT_FOUND,
                                        404, [&] { (void)client.download_bytes(UNKNOWN); });
        try {
            bb::download(UNKNOWN, dir / "never.zip");
            check(false, "a 404 is also an ApiStatusError / Error / runtime_error");
        } catch (const std::runtime_error &e) {
            const auto *status = dynamic_cast<const bb::ApiStatusError *>(&e);
            const auto *error = dynamic_cast<const bb::Error *>(&e);
            check(status && error && error->http_status() == 404 &&
                      std::string(e.what()).find("404") != std::string::npos &&
                      !fs::exists(dir / "never.zip"),
                  "a 404 is also an ApiStatusError / Error / runtime_error", e.what());
        }
        expect_error<bb::AuthenticationError>("a wrong per-call key: AuthenticationError, 401",
                                              BB_ERR_AUTHENTICATION, 401,
                                              [&] { (void)client.download_bytes(DEMO, "wrong"); });
        expect_error<bb::ConflictError>("HTTP 409: ConflictError", BB_ERR_HTTP, 409,
                                        [&] { (void)client.download_bytes(conflict_session); });
        expect_error<bb::ConnectionError>("a reset: ConnectionError", BB_ERR_CONNECTION, 0,
                                          [&] { (void)client.download_bytes(reset_session); });
        {
            bb::ClientOptions quick = options_for(base_url);
            quick.timeout = 300ms;
            bb::Client impatient(quick);
            expect_error<bb::TimeoutError>("a stall: TimeoutError", BB_ERR_TIMEOUT, 0, [&] {
                (void)impatient.download_bytes(stall_session);
            });
        }
        expect_error<bb::InvalidArgumentError>("an empty session id: InvalidArgumentError",
                                               BB_ERR_INVALID_ARGUMENT, 0,
                                               [&] { (void)client.download_bytes(""); });
        expect_error<bb::InvalidArgumentError>(
            "a session id with a NUL: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0,
            [&] { (void)client.download_bytes(std::string("a\0b", 3)); });
        expect_error<bb::InvalidArgumentError>(
            "a plain-http non-loopback base URL: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT,
            0, [&] { (void)bb::ClientBuilder().base_url("http://example.com"); });
        expect_error<bb::InvalidArgumentError>("a negative timeout: InvalidArgumentError",
                                               BB_ERR_INVALID_ARGUMENT, 0,
                                               [&] { (void)bb::ClientBuilder().timeout(-1ms); });
        expect_error<bb::InvalidArgumentError>(
            "101 retries: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0, [&] {
                bb::ClientOptions bad = options_for(base_url);
                bad.max_retries = 101;
                bb::Client rejected(bad);
            });
        expect_error<bb::ApiStatusError>(
            "an archive over max_archive_bytes: ApiStatusError", BB_ERR_HTTP, 0, [&] {
                bb::ClientOptions limited = options_for(base_url);
                limited.max_archive_bytes = 100;
                (void)bb::Client(limited).download_bytes(DEMO);
            });
        expect_error<bb::InvalidArgumentError>(
            "an empty write function: InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0,
            [&] { (void)client.download_to(DEMO, bb::WriteFunction()); });
        expect_error<bb::LocalIoError>("a missing directory: LocalIoError", BB_ERR_IO, 0,
                                       [&] { client.download(DEMO, dir / "no" / "x.zip"); });
        expect_error<bb::NotReadyError>(
            "an empty session with timeout 0: NotReadyError", BB_ERR_NOT_READY, 0,
            [&] { (void)client.wait_for_downloads_bytes(EMPTY, {0ms, false}); });

        // Every code maps to its class (no server needed).
        struct Mapping {
            bb_code code;
            int status;
            const char *class_name;
            bool (*is)(const bb::Error &);
        };
        const Mapping mappings[] = {
            {BB_ERR_HTTP, 400, "BadRequestError",
             [](const bb::Error &e) { return dynamic_cast<const bb::BadRequestError *>(&e) != nullptr; }},
            {BB_ERR_PERMISSION_DENIED, 403, "PermissionDeniedError",
             [](const bb::Error &e) { return dynamic_cast<const bb::PermissionDeniedError *>(&e) != nullptr; }},
            {BB_ERR_HTTP, 422, "UnprocessableEntityError",
             [](const bb::Error &e) { return dynamic_cast<const bb::UnprocessableEntityError *>(&e) != nullptr; }},
            {BB_ERR_RATE_LIMITED, 429, "RateLimitError",
             [](const bb::Error &e) { return dynamic_cast<const bb::RateLimitError *>(&e) != nullptr; }},
            {BB_ERR_SERVER, 503, "InternalServerError",
             [](const bb::Error &e) { return dynamic_cast<const bb::InternalServerError *>(&e) != nullptr; }},
            {BB_ERR_HTTP, 418, "ApiStatusError",
             [](const bb::Error &e) { return typeid(e) == typeid(bb::ApiStatusError); }},
            {BB_ERR_INVALID_ARCHIVE, 0, "InvalidArchiveError",
             [](const bb::Error &e) { return dynamic_cast<const bb::InvalidArchiveError *>(&e) != nullptr; }},
            {BB_ERR_CANCELLED, 0, "CancelledError",
             [](const bb::Error &e) { return dynamic_cast<const bb::CancelledError *>(&e) != nullptr; }},
            {BB_ERR_INTERNAL, 0, "InternalError",
             [](const bb::Error &e) { return dynamic_cast<const bb::InternalError *>(&e) != nullptr; }},
        };
        for (const Mapping &m : mappings) {
            try {
                bb::throw_error(m.code, m.status, "m");
            } catch (const bb::Error &e) {
                check(m.is(e) && e.code() == m.code && e.http_status() == m.status,
                      std::string("throw_error(") + bb_code_name(m.code) + ", " +
                          std::to_string(m.status) + ") throws " + m.class_name,
                      describe(e));
            }
        }

        // ---- Moving a Client -----------------------------------------------
        bb::Client moved_to = std::move(client);
        check(!client && client.get() == nullptr && static_cast<bool>(moved_to),
              "a moved-from Client is empty");
        check(moved_to.download_bytes(DEMO) == archive, "the moved-to Client works");
        expect_error<bb::InvalidArgumentError>("a moved-from Client throws InvalidArgumentError",
                                               BB_ERR_INVALID_ARGUMENT, 0,
                                               [&] { (void)client.download_bytes(DEMO); });
        client = std::move(moved_to);  // move assignment back
        check(client.download_bytes(DEMO) == archive && !moved_to, "move assignment");
        std::vector<bb::Client> clients;
        clients.push_back(std::move(built));
        clients.emplace_back(options_for(base_url));
        clients.reserve(16);  // relocates: moves every Client
        check(clients[0].download_bytes(DEMO) == archive &&
                  clients[1].download_bytes(DEMO) == archive,
              "Clients in a vector survive relocation");

        // ---- Exceptions and cancellation in the write function --------------
        int calls = 0;
        try {
            client.download_to(cancel_session, [&](const std::uint8_t *, std::size_t) -> bool {
                ++calls;
                throw Boom("boom from the callback");
            });
            check(false, "an exception in the write function propagates", "no exception");
        } catch (const Boom &e) {
            check(calls == 1 && std::string(e.what()) == "boom from the callback",
                  "an exception in the write function propagates as itself, after the "
                  "download was cancelled",
                  "calls=" + std::to_string(calls));
        } catch (const std::exception &e) {
            check(false, "an exception in the write function propagates", e.what());
        }
        calls = 0;
        try {
            bb::download_to(DEMO, [&](const std::uint8_t *, std::size_t) -> bool {
                ++calls;
                throw 42;  // not even a std::exception
            });
            check(false, "a non-std exception propagates too", "no exception");
        } catch (int value) {
            check(value == 42 && calls == 1, "a non-std exception propagates too (free function)");
        }
        expect_error<bb::CancelledError>(
            "a write function returning false: CancelledError", BB_ERR_CANCELLED, 0, [&] {
                (void)client.download_to(DEMO, [](const std::uint8_t *, std::size_t) {
                    return false;
                });
            });

        // ---- Progress ---------------------------------------------------------
        {
            std::vector<Report> reports;
            const auto record = [&](std::uint64_t received, std::optional<std::uint64_t> total) {
                reports.push_back({received, total});
                return true;
            };
            // The options (and their copy of the function) are gone before
            // the client is used: the Client keeps its own.
            bb::Client progressing = [&] {
                bb::ClientOptions options = options_for(base_url);
                options.progress = record;
                return bb::Client(options);
            }();
            const std::vector<std::uint8_t> bytes = progressing.download_bytes(DEMO);
            check(bytes == archive && from_zero_to(reports, archive.size()),
                  "progress goes from (0, size) to (size, size), total = the archive's size",
                  describe(reports));

            const std::pair<const char *, std::function<void()>> methods[] = {
                {"download", [&] { progressing.download(DEMO, dir / "progress.zip"); }},
                {"download_buffer", [&] { (void)progressing.download_buffer(DEMO); }},
                {"download_to",
                 [&] {
                     (void)progressing.download_to(
                         DEMO, [](const std::uint8_t *, std::size_t) { return true; });
                 }},
                {"wait_for_downloads",
                 [&] {
                     progressing.wait_for_downloads(DEMO, dir / "progress-w.zip", {5s, false});
                 }},
                {"wait_for_downloads_bytes",
                 [&] { (void)progressing.wait_for_downloads_bytes(DEMO, {5s, false}); }},
                {"extract_downloads",
                 [&] { progressing.extract_downloads(DEMO, dir / "progress-x", {5s, false}); }},
            };
            for (const auto &[name, call] : methods) {
                reports.clear();
                call();
                check(from_zero_to(reports, archive.size()),
                      std::string("Client::") + name + "() reports progress", describe(reports));
            }

            // Moves keep the function where the C library expects it.
            bb::Client moved_progress = std::move(progressing);
            std::vector<bb::Client> relocated;
            relocated.push_back(std::move(moved_progress));
            relocated.reserve(32);
            reports.clear();
            (void)relocated[0].download_bytes(DEMO);
            check(from_zero_to(reports, archive.size()),
                  "progress still works after the Client was moved and relocated",
                  describe(reports));
            progressing = std::move(relocated[0]);  // move assignment back
            reports.clear();
            (void)progressing.download_bytes(DEMO);
            check(from_zero_to(reports, archive.size()), "... and move-assigned",
                  describe(reports));

            // The builder: two clients share one function; the builder and
            // the caller's function are gone before they are used.
            std::optional<bb::Client> first;
            std::optional<bb::Client> second;
            std::optional<bb::Client> without;
            {
                bb::ProgressFunction function = record;
                bb::ClientBuilder builder;
                builder.base_url(base_url).api_key("bb_test_key").max_retries(0).progress(
                    function);
                first.emplace(builder.build());
                second.emplace(builder.build());
                builder.progress(nullptr);  // removes it
                without.emplace(builder.build());
            }
            reports.clear();
            (void)first->download_bytes(DEMO);
            (void)second->download_bytes(DEMO);
            const std::size_t two_downloads = reports.size();
            (void)without->download_bytes(DEMO);
            check(two_downloads >= 4 && reports.size() == two_downloads &&
                      reports.front().received == 0 && reports[two_downloads / 2].received == 0,
                  "ClientBuilder::progress(): shared by the clients built after it; "
                  "progress(nullptr) removes it",
                  describe(reports));

            // Returning false cancels, without a retry (which would report 0 again).
            bb::ClientOptions cancelling = options_for(base_url);
            cancelling.max_retries = 2;
            reports.clear();
            cancelling.progress = [&](std::uint64_t received, std::optional<std::uint64_t> total) {
                reports.push_back({received, total});
                return received == 0;  // stop at the first chunk
            };
            bb::Client canceller(cancelling);
            expect_error<bb::CancelledError>(
                "a progress function returning false: CancelledError", BB_ERR_CANCELLED, 0,
                [&] { canceller.download(DEMO, dir / "cancelled.zip"); });
            check(reports.size() == 2 && reports[1].received > 0 &&
                      !fs::exists(dir / "cancelled.zip"),
                  "the cancelled download stopped at once, was not retried, left no file",
                  describe(reports));

            // An exception cancels and propagates as itself, after the call.
            bool throw_now = true;
            int progress_calls = 0;
            bb::ClientOptions throwing = options_for(base_url);
            throwing.max_retries = 2;
            throwing.progress = [&](std::uint64_t, std::optional<std::uint64_t>) -> bool {
                ++progress_calls;
                if (throw_now) throw Boom("boom from progress");
                if (progress_throws_here) throw 7;  // not even a std::exception
                return true;
            };
            bb::Client thrower(throwing);
            try {
                (void)thrower.download_bytes(DEMO);
                check(false, "an exception in the progress function propagates", "no exception");
            } catch (const Boom &e) {
                check(progress_calls == 1 && std::string(e.what()) == "boom from progress",
                      "an exception in the progress function propagates as itself, after the "
                      "download was cancelled (not retried)",
                      "calls=" + std::to_string(progress_calls));
            } catch (const std::exception &e) {
                check(false, "an exception in the progress function propagates", e.what());
            }
            progress_calls = 0;
            try {
                (void)thrower.download_to(DEMO, [](const std::uint8_t *, std::size_t) {
                    return true;
                });
                check(false, "... from download_to too", "no exception");
            } catch (const Boom &) {
                check(progress_calls == 1, "... from download_to too");
            }
            throw_now = false;
            check(thrower.wait_for_downloads_bytes(DEMO, {5s, false}) == archive,
                  "the same client works once the function stops throwing");

            // A client shared by threads: each exception goes to its own call.
            bool bad_threw = false;
            bool good_ok = false;
            std::thread bad([&] {
                progress_throws_here = true;
                try {
                    (void)thrower.download_bytes(DEMO);
                } catch (int value) {
                    bad_threw = value == 7;
                } catch (...) {
                }
            });
            std::thread good([&] {
                try {
                    good_ok = thrower.download_bytes(DEMO) == archive;
                } catch (...) {
                }
            });
            bad.join();
            good.join();
            check(bad_threw && good_ok,
                  "a shared client: the exception reaches the thread that threw it only");
        }

        // ---- Logging ---------------------------------------------------------
        {
            const ResetLogHandlerOnExit reset_at_exit;
            const std::string key = env("BROWSERBASE_API_KEY");
            const std::string wrong_key = "cpp-secret-wrong-key";
            const std::string path = std::string("GET /v1/sessions/") + DEMO + "/downloads";
            LogLines log;
            bb::set_log_handler(log.handler(), bb::LogLevel::info);
            (void)client.download_bytes(DEMO);
            expect_error<bb::AuthenticationError>(
                "a wrong key while logging: AuthenticationError", BB_ERR_AUTHENTICATION, 401,
                [&] { (void)client.download_bytes(DEMO, wrong_key); });
            auto lines = log.take();
            std::string all;
            bool ok_line = false;
            bool refused_line = false;
            bool secret = false;
            for (const auto &[level, line] : lines) {
                all += "[" + std::string(bb::log_level_name(level)) + "] " + line + "\n";
                ok_line = ok_line || (level == bb::LogLevel::info &&
                                      line.find(path + " -> 200") != std::string::npos);
                refused_line = refused_line || line.find(path + " -> 401") != std::string::npos;
                secret = secret || line.find(key) != std::string::npos ||
                         line.find(wrong_key) != std::string::npos;
            }
            check(ok_line && refused_line,
                  "set_log_handler(): one info line per request, \"" + path + " -> 200\"", all);
            check(!lines.empty() && !secret, "no log line holds the API key", all);

            bb::set_log_handler(log.handler(), bb::LogLevel::warn);
            (void)client.download_bytes(DEMO);
            lines = log.take();
            check(lines.empty(), "a handler at LogLevel::warn gets no info lines",
                  lines.empty() ? "" : lines[0].second);

            bb::set_log_handler([](bb::LogLevel, std::string_view) { throw Boom("from the log"); },
                                bb::LogLevel::debug);
            check(client.download_bytes(DEMO) == archive,
                  "a throwing log handler does not disturb the download");

            int self_resetting_calls = 0;
            bb::set_log_handler(
                [&](bb::LogLevel, std::string_view) {
                    ++self_resetting_calls;
                    bb::reset_log_handler();  // from inside a handler: no deadlock
                },
                bb::LogLevel::info);
            (void)client.download_bytes(DEMO);
            (void)client.download_bytes(DEMO);
            check(self_resetting_calls == 1, "a handler may reset the handler",
                  std::to_string(self_resetting_calls));

            bb::set_log_handler(log.handler(), bb::LogLevel::info);
            expect_error<bb::InvalidArgumentError>(
                "set_log_handler(42): InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0, [&] {
                    bb::set_log_handler([](bb::LogLevel, std::string_view) {},
                                        static_cast<bb::LogLevel>(42));
                });
            (void)client.download_bytes(DEMO);
            check(log.take().size() == 1, "after a refused level, the previous handler stays");

            // Replacing waits for the old handler's calls on other threads.
            std::atomic<bool> entered{false};
            std::atomic<bool> left{false};
            bb::set_log_handler(
                [&](bb::LogLevel, std::string_view) {
                    entered = true;
                    std::this_thread::sleep_for(300ms);
                    left = true;
                },
                bb::LogLevel::info);
            std::thread downloader([&] {
                try {
                    (void)client.download_bytes(DEMO);
                } catch (...) {
                }
            });
            const auto give_up = std::chrono::steady_clock::now() + 10s;
            while (!entered && std::chrono::steady_clock::now() < give_up)
                std::this_thread::sleep_for(1ms);
            bb::set_log_handler(log.handler(), bb::LogLevel::info);
            const bool waited = entered && left;
            downloader.join();
            check(waited,
                  "set_log_handler() returns once the replaced handler's call on another "
                  "thread has returned");

            bb::set_log_handler(bb::LogHandler(), bb::LogLevel::info);  // empty: a reset
            (void)client.download_bytes(DEMO);
            bb::set_log_handler(log.handler(), bb::LogLevel::off);
            (void)client.download_bytes(DEMO);
            bb::set_log_handler(log.handler(), bb::LogLevel::debug);
            bb::reset_log_handler();
            (void)client.download_bytes(DEMO);
            check(log.take().empty(),
                  "an empty handler, LogLevel::off and reset_log_handler() stop the lines");
            check(bb::log_level_name(bb::LogLevel::warn) == "warn" &&
                      bb::log_level_name(static_cast<bb::LogLevel>(9)) == "unknown",
                  "log_level_name()");
        }

        // ---- Archives ---------------------------------------------------------
        {
            bb::Archive zip = bb::Archive::open(free_zip);
            const std::vector<bb::Entry> entries = zip.entries();
            check(zip.size() == 2 && entries.size() == 2 &&
                      original_names(entries) == std::set<std::string>{"data.csv", "report.pdf"},
                  "Archive::open(path).entries(): the original names");
            const auto pdf = std::find_if(entries.begin(), entries.end(), [](const bb::Entry &e) {
                return e.original_name == "report.pdf";
            });
            check(pdf != entries.end() &&
                      pdf->name == "report-" + std::to_string(DEMO_PDF_MS) + ".pdf" &&
                      pdf->download_time_ms == DEMO_PDF_MS && pdf->size > 0 && !pdf->is_dir(),
                  "an entry's stored name, size and download time");
            check(pdf != entries.end() && pdf->mtime().has_value() && pdf->mtime_unix > 0 &&
                      pdf->download_time() ==
                          std::chrono::system_clock::time_point(
                              std::chrono::milliseconds(DEMO_PDF_MS)),
                  "mtime() and download_time() as time points");
            expect_error<bb::InvalidArgumentError>("entry(99): InvalidArgumentError",
                                                   BB_ERR_INVALID_ARGUMENT, 0,
                                                   [&] { (void)zip.entry(99); });

            zip.extract_to(dir / "extracted");
            bool sizes_match = true;
            for (const auto &e : entries) {
                const fs::path file = dir / "extracted" / e.original_name;
                sizes_match = sizes_match && fs::is_regular_file(file) &&
                              fs::file_size(file) == e.size;
            }
            check(sizes_match, "Archive::extract_to(): files with their original names");

            bb::Archive moved = std::move(zip);
            check(zip.get() == nullptr && zip.size() == 0 && moved.size() == 2,
                  "a moved Archive");
            expect_error<bb::InvalidArgumentError>(
                "a moved-from Archive throws InvalidArgumentError", BB_ERR_INVALID_ARGUMENT, 0,
                [&] { zip.extract_to(dir / "never"); });

            moved.set_limits(10, 0);
            expect_error<bb::InvalidArchiveError>("set_limits(10 bytes): InvalidArchiveError",
                                                  BB_ERR_INVALID_ARCHIVE, 0,
                                                  [&] { moved.extract_to(dir / "limited"); });
            check(!fs::exists(dir / "limited") ||
                      fs::is_empty(dir / "limited"),
                  "a refused extraction writes nothing");
        }
        {
            bb::Archive from_vector = bb::Archive::from_bytes(archive);
            bb::Buffer buffer = client.download_buffer(DEMO);
            bb::Archive from_buffer = bb::Archive::from_bytes(buffer);
            buffer.reset();  // the archive keeps its own copy
            check(original_names(from_vector.entries()) == original_names(from_buffer.entries()) &&
                      from_buffer.size() == 2,
                  "Archive::from_bytes(vector / Buffer)");
            const std::uint8_t empty_zip[22] = {'P', 'K', 5, 6};
            check(bb::Archive::from_bytes(empty_zip, sizeof empty_zip).empty(),
                  "the 22-byte empty archive has no entries");
            const std::string html = "<html>not a zip</html>";
            expect_error<bb::InvalidArchiveError>(
                "Archive::from_bytes(html): InvalidArchiveError", BB_ERR_INVALID_ARCHIVE, 0, [&] {
                    (void)bb::Archive::from_bytes(
                        reinterpret_cast<const std::uint8_t *>(html.data()), html.size());
                });
            expect_error<bb::LocalIoError>("Archive::open(missing): LocalIoError", BB_ERR_IO, 0,
                                           [&] { (void)bb::Archive::open(dir / "missing.zip"); });
        }
        bb::extract(free_zip, dir / "extracted2");
        check(fs::is_regular_file(dir / "extracted2" / "report.pdf") &&
                  fs::is_regular_file(dir / "extracted2" / "data.csv"),
              "extract(zip, dir)");

        // ---- Waiting for a session that syncs ---------------------------------
        const auto started = std::chrono::steady_clock::now();
        client.wait_for_downloads(sync_session, dir / "synced.zip", {10s, true});
        const auto waited = std::chrono::steady_clock::now() - started;
        check(bb::Archive::open(dir / "synced.zip").size() == 1 && waited >= 200ms,
              "Client::wait_for_downloads() waits for a syncing session (stable)",
              std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(waited).count()) +
                  " ms");
        client.extract_downloads(DEMO, dir / "x1", {5s, false});
        bb::extract_downloads(DEMO, dir / "x2", 5s);
        check(fs::is_regular_file(dir / "x1" / "report.pdf") &&
                  fs::is_regular_file(dir / "x2" / "data.csv"),
              "extract_downloads() (client and free function)");
        expect_error<bb::NotReadyError>("extract_downloads(empty, 0 ms): NotReadyError",
                                        BB_ERR_NOT_READY, 0,
                                        [&] { bb::extract_downloads(EMPTY, dir / "x3", 0ms); });

        // ---- Cancellation and per-call options ---------------------------------
        {
            static_assert(!std::is_copy_constructible_v<bb::Cancel>, "Cancel is move-only");
            static_assert(std::is_nothrow_move_constructible_v<bb::Cancel>);
            static_assert(noexcept(std::declval<const bb::Cancel &>().trigger()),
                          "trigger() is usable from a signal handler");
            bb::Client plain;
            // A per-call progress function replaces the client's (none here).
            std::uint64_t last = 0;
            int calls = 0;
            const auto bytes = plain.download_bytes(
                DEMO, bb::CallOptions{nullptr, [&](std::uint64_t received,
                                                   std::optional<std::uint64_t>) {
                                          ++calls;
                                          last = received;
                                          return true;
                                      }});
            check(calls >= 2 && last == bytes.size(), "CallOptions::progress is called",
                  std::to_string(calls) + " calls");
            {
                std::string caught;
                try {
                    (void)plain.download_bytes(
                        DEMO, bb::CallOptions{nullptr,
                                              [](std::uint64_t, std::optional<std::uint64_t>)
                                                  -> bool { throw std::runtime_error("p"); }});
                } catch (const bb::Error &e) {
                    caught = std::string("bb::Error: ") + e.what();
                } catch (const std::runtime_error &e) {
                    caught = e.what();
                }
                check(caught == "p", "an exception thrown in CallOptions::progress propagates",
                      caught);
            }

            // Triggered before the call: CancelledError at once, no file.
            bb::Cancel before;
            check(!before.triggered(), "a new Cancel is not triggered");
            before.trigger();
            before.trigger();
            check(before.triggered(), "trigger() sets it (and is idempotent)");
            expect_error<bb::CancelledError>("a Cancel triggered before: CancelledError",
                                             BB_ERR_CANCELLED, 0, [&] {
                                                 plain.download(hang_session, dir / "never.zip",
                                                                bb::CallOptions{&before, {}});
                                             });
            check(!fs::exists(dir / "never.zip"), "no file after a cancelled download");
            bb::Archive demo = bb::Archive::open(free_zip);
            expect_error<bb::CancelledError>("Archive::extract_to with a triggered Cancel",
                                             BB_ERR_CANCELLED, 0, [&] {
                                                 demo.extract_to(dir / "never",
                                                                 bb::CallOptions{&before, {}});
                                             });
            check(!fs::exists(dir / "never"), "no directory after a cancelled extraction");

            // Mid-body against a server gone silent for 60 s, from another
            // thread: once the first bytes arrived (the progress function
            // says so), a helper thread triggers.
            for (const bool by_signal : {false, true}) {
                bb::Cancel cancel;
                std::promise<void> got_bytes;
                bool told = false;
                const pthread_t caller = pthread_self();
                signal_cancel = &cancel;
                std::thread helper([&, future = got_bytes.get_future()]() mutable {
                    future.wait();
                    if (by_signal) {
                        pthread_kill(caller, SIGUSR1);  // the handler triggers
                    } else {
                        cancel.trigger();
                    }
                });
                const auto t0 = std::chrono::steady_clock::now();
                const std::string what = by_signal ? "a Cancel triggered by a signal handler"
                                                   : "a Cancel triggered by another thread";
                expect_error<bb::CancelledError>(
                    what + " ends a stalled download: CancelledError", BB_ERR_CANCELLED, 0, [&] {
                        plain.download(by_signal ? hang_session2 : hang_session,
                                       dir / "stalled.zip",
                                       bb::CallOptions{&cancel, [&](std::uint64_t received,
                                                                    std::optional<std::uint64_t>) {
                                                           if (received > 0 && !told) {
                                                               told = true;
                                                               got_bytes.set_value();
                                                           }
                                                           return true;
                                                       }});
                    });
                if (!told) got_bytes.set_value();
                helper.join();
                signal_cancel = nullptr;
                const auto took = std::chrono::steady_clock::now() - t0;
                check(took < 20s, what + ": long before the server's 60 s",
                      std::to_string(
                          std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) +
                          " ms");
                check(!fs::exists(dir / "stalled.zip"), what + ": no file left");
            }
        }
    } catch (const bb::Error &e) {
        check(false, "no unexpected exception", describe(e));
    } catch (const std::exception &e) {
        check(false, "no unexpected exception", e.what());
    }

    std::printf("%d passed, %d failed\n", checks_run - checks_failed, checks_failed);
    return checks_failed == 0 ? 0 : 1;
}
