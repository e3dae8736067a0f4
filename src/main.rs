fn main() {
    std::process::exit(sertool::cli::main());
}
