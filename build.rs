//! Link options of the shared library.
//!
//! - soname `libbrowserbase.so.<major>` (`.so.0` for 0.x), so programs record
//!   the ABI they were linked against and installs can keep versioned links.
//! - `-z nodelete`: dlclose() leaves the library mapped. The library may have
//!   background network threads (the process-wide client's); unmapping their
//!   code under them would crash the process, so a dlopen/dlclose/dlopen
//!   cycle keeps one copy instead.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets the version");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" || target_os == "android" || target_os.ends_with("bsd") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libbrowserbase.so.{major}");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,nodelete");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
