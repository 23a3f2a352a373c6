defmodule Realtime.Seed.Synthetic do
  @moduledoc """
  A synthetic dataset for load tests, generated deterministically: the
  same options give the same guilds, users and tokens, so a load generator
  can compute every account's token without asking.

    * `members` user accounts (not bots, so identifies are not limited),
      user `i` having id `#{2_000_000_000_000_000_000} + i`, username `"user<i>"`
      and the token `token(id)`;
    * `guilds` guilds; the first has every user as a member, and user `i` is
      also in guild `i rem guilds` (when that is not the first);
    * `channels` text channels per guild, all visible to @everyone;
    * the default dataset's application and demo bot (a member everywhere),
      to post through REST.

  **The tokens are for development only**: anyone can compute them. Never
  start a reachable deployment with a synthetic dataset.
  """

  import Bitwise

  @first_user 2_000_000_000_000_000_000
  @first_guild 2_100_000_000_000_000_000
  @joined "2024-06-01T00:00:00.000000+00:00"
  # The default @everyone: view, send, read history, react, and more.
  @everyone_permissions 2_217_856_064

  @doc "The dataset for `guilds`, `members` and `channels` (defaults 1, 1,000 and 3)."
  @spec generate(keyword) :: Realtime.Seed.t()
  def generate(opts) do
    guilds = Keyword.get(opts, :guilds, 1)
    members = Keyword.get(opts, :members, 1_000)
    channels = Keyword.get(opts, :channels, 3)
    default = Realtime.Seed.load()
    bot = Enum.find(default.users, &(&1.id == default.application.id))
    users = for i <- 0..(members - 1), do: user(i)

    %{
      application: default.application,
      users: [bot | users],
      guilds: for(g <- 0..(guilds - 1), do: guild(g, guilds, members, channels, bot))
    }
  end

  @doc "The id of synthetic user `i`."
  @spec user_id(non_neg_integer) :: pos_integer
  def user_id(i), do: @first_user + i

  @doc "The id of synthetic guild `g`. Guild ids differ in their shard bits, so sharded sessions spread."
  @spec guild_id(non_neg_integer) :: pos_integer
  def guild_id(g), do: @first_guild + (g <<< 22)

  @doc "The id of text channel `k` of guild `g`."
  @spec channel_id(non_neg_integer, non_neg_integer) :: pos_integer
  def channel_id(g, k), do: guild_id(g) + 1 + k

  @doc "The dev token of synthetic user `id`: its decimal id in URL-safe base64, then a fixed tail."
  @spec token(pos_integer) :: String.t()
  def token(id), do: Base.url_encode64(Integer.to_string(id), padding: false) <> ".RTsyn0.synthetic-user-token-not-a-secret"

  defp user(i) do
    id = user_id(i)
    %{id: id, username: "user#{i}", global_name: "User #{i}", bot: false, token: token(id), privileged_intents: [], max_concurrency: 1, session_start_total: 1_000}
  end

  defp guild(g, guilds, members, channels, bot) do
    id = guild_id(g)
    ids = if g == 0, do: Enum.map(0..(members - 1), &user_id/1), else: for(i <- g..(members - 1)//guilds, do: user_id(i))

    %{
      id: id,
      name: "Synthetic #{g}",
      owner_id: bot.id,
      roles: %{id => %{id: id, name: "@everyone", permissions: @everyone_permissions, position: 0, hoist: false, color: 0}},
      channels:
        Map.new(0..(channels - 1), fn k ->
          cid = channel_id(g, k)
          {cid, %{id: cid, type: 0, name: "load-#{k}", position: k, parent_id: nil, topic: nil, permission_overwrites: []}}
        end),
      members: Map.new([bot.id | ids], &{&1, %{user_id: &1, roles: [], nick: nil, joined_at: @joined}})
    }
  end
end
