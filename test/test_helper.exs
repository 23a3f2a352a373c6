{:ok, _} = Application.ensure_all_started(:gun)
# Sessions of dropped test connections should not linger into later tests.
Application.put_env(:realtime, :resume_window, 2_000)
# Tests connect the same bots many times a second: limits are counted and
# reported, but set out of reach. The tests of the limits lower them.
Application.put_env(:realtime, :rest_rate_limits, %{global: {1_000_000, 1_000}, default: {1_000_000, 1_000}, routes: %{}})
Application.put_env(:realtime, :identify_limits, %{enabled: false})
# Log lines are shown only for the tests that fail.
ExUnit.start(capture_log: true)
