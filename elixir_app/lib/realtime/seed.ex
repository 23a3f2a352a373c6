defmodule Realtime.Seed do
  @moduledoc """
  The embedded default dataset (`priv/seed/default.json`), loaded when
  nothing else is configured: an application, bot accounts with dev tokens,
  and guilds with roles, channels (one hidden from @everyone) and members,
  of which most are generated deterministically at load time.

  Snowflakes are strings in the file and integers once loaded. The dataset
  is imported into the store on the first start (`Realtime.Guild.Rows`).

  `REALTIME_SEED` chooses another dataset: a path to a JSON file of the same
  shape, or `synthetic:members=100000,guilds=1,channels=3` for the
  generated load-test dataset of `Realtime.Seed.Synthetic` (dev tokens
  anyone can compute: never for a reachable deployment).
  """

  @type user :: %{id: integer, username: String.t(), global_name: String.t() | nil, bot: boolean}
  @type t :: %{application: map, users: [map], guilds: [map]}

  @doc """
  The dataset the environment selects: `REALTIME_SEED`, else the
  application env `:seed` (`:default`, a path, or `{:synthetic, opts}`),
  else the embedded one.
  """
  @spec configured() :: t
  def configured do
    case System.get_env("REALTIME_SEED") || Application.get_env(:realtime, :seed, :default) do
      "synthetic:" <> spec -> synthetic(parse_spec(spec))
      {:synthetic, opts} -> synthetic(opts)
      :default -> load()
      path when is_binary(path) -> load(path)
    end
  end

  defp parse_spec(spec) do
    for pair <- String.split(spec, ",", trim: true) do
      case String.split(pair, "=") do
        [k, v] when k in ["members", "guilds", "channels"] -> {String.to_existing_atom(k), String.to_integer(v)}
        _ -> raise ArgumentError, "REALTIME_SEED=synthetic: expects members=N,guilds=N,channels=N, got: #{inspect(pair)}"
      end
    end
  end

  @doc "The generated load-test dataset (see `Realtime.Seed.Synthetic`)."
  @spec synthetic(keyword) :: t
  def synthetic(opts), do: Realtime.Seed.Synthetic.generate(opts)

  @doc "Reads and converts the dataset at `path` (default: the embedded one)."
  @spec load(Path.t() | nil) :: t
  def load(path \\ nil) do
    path = path || Path.join(:code.priv_dir(:realtime), "seed/default.json")
    {:ok, raw} = path |> File.read!() |> Realtime.JSON.decode()

    %{
      application: application(raw["application"]),
      users: Enum.map(raw["users"], &user/1) ++ Enum.flat_map(raw["guilds"], &generated_users/1),
      guilds: Enum.map(raw["guilds"], &guild/1)
    }
  end

  defp id(s) when is_binary(s), do: String.to_integer(s)

  defp application(a), do: %{id: id(a["id"]), name: a["name"], description: a["description"], flags: a["flags"]}

  defp user(u) do
    %{
      id: id(u["id"]),
      username: u["username"],
      global_name: u["global_name"],
      bot: u["bot"] == true,
      token: u["token"],
      privileged_intents: u["privileged_intents"] || [],
      max_concurrency: u["max_concurrency"] || 1,
      session_start_total: u["session_start_total"] || 1_000
    }
  end

  defp generated_users(%{"generated_members" => %{"count" => n, "first_user_id" => first}}) do
    first = id(first)

    for i <- 0..(n - 1) do
      %{id: first + i, username: "member#{i}", global_name: "Member #{i}", bot: false, token: nil, privileged_intents: []}
    end
  end

  defp guild(g) do
    members = Enum.map(g["members"], &member/1) ++ generated_members(g["generated_members"])

    %{
      id: id(g["id"]),
      name: g["name"],
      owner_id: id(g["owner_id"]),
      roles: Map.new(g["roles"], &{id(&1["id"]), role(&1)}),
      channels: Map.new(g["channels"], &{id(&1["id"]), channel(&1)}),
      members: Map.new(members, &{&1.user_id, &1})
    }
  end

  defp role(r) do
    %{
      id: id(r["id"]),
      name: r["name"],
      permissions: id(r["permissions"]),
      position: r["position"],
      hoist: r["hoist"] == true,
      color: r["color"] || 0
    }
  end

  defp channel(c) do
    %{
      id: id(c["id"]),
      type: c["type"],
      name: c["name"],
      position: c["position"],
      parent_id: c["parent_id"] && id(c["parent_id"]),
      topic: c["topic"],
      permission_overwrites:
        Enum.map(c["permission_overwrites"] || [], fn o ->
          %{id: id(o["id"]), type: o["type"], allow: id(o["allow"]), deny: id(o["deny"])}
        end)
    }
  end

  defp member(m) do
    %{user_id: id(m["user_id"]), roles: Enum.map(m["roles"], &id/1), nick: m["nick"], joined_at: m["joined_at"]}
  end

  defp generated_members(%{"count" => n, "first_user_id" => first, "roles_cycle" => cycle}) do
    first = id(first)
    cycle = Enum.map(cycle, fn roles -> Enum.map(roles, &id/1) end)

    for i <- 0..(n - 1) do
      %{user_id: first + i, roles: Enum.at(cycle, rem(i, length(cycle))), nick: nil, joined_at: "2024-03-01T00:00:00.000000+00:00"}
    end
  end
end
