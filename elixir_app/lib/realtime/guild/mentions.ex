defmodule Realtime.Guild.Mentions do
  @moduledoc """
  What a message's content mentions, in Discord's markup: users (`<@id>`,
  `<@!id>`), roles (`<@&id>`) and everyone (`@everyone`, `@here`). Pure.

  `resolve/3` keeps the mentions that mean something in a guild: members
  that exist, roles that exist, and `@everyone`/`@here` only from an author
  with MENTION_EVERYONE, as Discord does.
  """

  @type t :: %{users: [integer], roles: [integer], everyone: boolean}

  @user ~r/<@!?(\d{1,20})>/
  @role ~r/<@&(\d{1,20})>/

  @doc "The raw mentions in `content`, in order of first appearance."
  @spec parse(String.t()) :: t
  def parse(content) do
    # Most messages mention nobody: one scan for "@" answers for them.
    if :binary.match(content, "@") == :nomatch, do: %{users: [], roles: [], everyone: false}, else: scan(content)
  end

  defp scan(content) do
    %{
      users: ids(@user, content),
      roles: ids(@role, content),
      everyone: String.contains?(content, ["@everyone", "@here"])
    }
  end

  defp ids(regex, content) do
    regex |> Regex.scan(content, capture: :all_but_first) |> Enum.map(fn [id] -> String.to_integer(id) end) |> Enum.uniq()
  end

  @doc """
  The mentions that apply in `guild` (`%{members, roles}`), given whether
  the author may mention everyone.
  """
  @spec resolve(t, map, boolean) :: t
  def resolve(mentions, guild, may_mention_everyone) do
    %{
      users: Enum.filter(mentions.users, &Map.has_key?(guild.members, &1)),
      roles: Enum.filter(mentions.roles, &Map.has_key?(guild.roles, &1)),
      everyone: mentions.everyone and may_mention_everyone
    }
  end
end
