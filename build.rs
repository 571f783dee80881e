//! Link options of the shared library.
//!
//! - soname `libbrowserbase.so.<major>` (`.so.0` for 0.x), so programs record
//!   the ABI they were linked against and installs can keep versioned links.
//! - `-z nodelete`: dlclose() leaves the library mapped. The library may
//!   still have code in use after the caller is done with it: a host name
//!   lookup's helper thread (it lingers 10 s), thread-local destructors of
//!   the threads that called it. Unmapping that code under them would crash
//!   the process, so a dlopen/dlclose/dlopen cycle keeps one copy instead.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbrowserbase.so.{major}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
