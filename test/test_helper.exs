{:ok, _} = Application.ensure_all_started(:gun)
# Sessions of dropped test connections should not linger into later tests.
Application.put_env(:realtime, :resume_window, 2_000)
# Tests connect the same bots many times a second: limits are counted and
# reported, but set out of reach. The tests of the limits lower them.
Application.put_env(:realtime, :rest_rate_limits, %{global: {1_000_000, 1_000}, default: {1_000_000, 1_000}, routes: %{}})
Application.put_env(:realtime, :identify_limits, %{enabled: false})
# Discord's OpenAPI spec as the oracle for object shapes (test/support/schema.ex).
{:ok, _} = Realtime.Test.Schema.start()

if System.get_env("SCHEMA_REPORT") do
  ExUnit.after_suite(fn _ -> IO.puts("validated against the spec: #{inspect(Realtime.Test.Schema.counts())}") end)
end

# Log lines are shown only for the tests that fail.
ExUnit.start(capture_log: true)
