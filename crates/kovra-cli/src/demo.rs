pub fn run() -> Result<(), crate::error::CliError> {
    Ok(())
}
