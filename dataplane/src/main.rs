#[tokio::main]
async fn main() -> std::process::ExitCode {
    match tollgate::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
