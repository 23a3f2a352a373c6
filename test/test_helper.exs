{:ok, _} = Application.ensure_all_started(:gun)
# Sessions of dropped test connections should not linger into later tests.
Application.put_env(:realtime, :resume_window, 2_000)
# Log lines are shown only for the tests that fail.
ExUnit.start(capture_log: true)
