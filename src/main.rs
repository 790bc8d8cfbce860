//! The tillpoint binary: everything lives in the library; see `tillpoint --help`.
fn main() -> std::process::ExitCode {
    tillpoint::cli::main()
}
