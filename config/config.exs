import Config

# mix test output stays quiet: the application's start-up notices (the
# store's migrations) are not shown; failing tests still show their own
# warnings and errors (ExUnit's capture_log).
if config_env() == :test do
  config :logger, level: :warning
end
