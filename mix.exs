defmodule Realtime.MixProject do
  use Mix.Project

  # Cowboy, Ranch, Cowlib, Gun and jsx come from Debian's rabbitmq-server
  # package (see bin/setup), not from hex; put them on the code path.
  for ebin <- Path.wildcard(Path.join(__DIR__, "_vendor/*/ebin")) do
    Code.prepend_path(ebin)
  end

  def project do
    [
      app: :realtime,
      version: "0.1.0",
      elixir: "~> 1.14",
      elixirc_paths: elixirc_paths(Mix.env()),
      test_paths: ["test"],
      # The native compiler is defined in this project, so it runs after
      # :elixir has compiled it.
      compilers: Mix.compilers() ++ [:native],
      start_permanent: Mix.env() == :prod,
      deps: [],
      # Gun (a client) and jsx (an independent JSON encoder) are test-only.
      xref: [exclude: [:gun, :jsx]]
    ]
  end

  defp elixirc_paths(:test), do: ["elixir_app/lib", "test/support"]
  defp elixirc_paths(_), do: ["elixir_app/lib"]

  def application do
    [
      mod: {Realtime.Application, []},
      # Tests start their own listeners on free ports, and keep their store
      # in a fresh temporary directory for each run.
      env: [listener: Mix.env() != :test] ++ if(Mix.env() == :test, do: [data_dir: {:tmp, "realtime-test"}], else: []),
      extra_applications: [:logger, :crypto, :inets, :runtime_tools, :cowboy, :ranch, :cowlib]
    ]
  end
end
