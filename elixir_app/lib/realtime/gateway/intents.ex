defmodule Realtime.Gateway.Intents do
  @moduledoc """
  Gateway intents: which events a session asked for. Three are privileged
  and must be granted to the account (GUILD_MEMBERS, GUILD_PRESENCES,
  MESSAGE_CONTENT).
  """
  import Bitwise

  @bits [
    GUILDS: 0,
    GUILD_MEMBERS: 1,
    GUILD_MODERATION: 2,
    GUILD_EXPRESSIONS: 3,
    GUILD_INTEGRATIONS: 4,
    GUILD_WEBHOOKS: 5,
    GUILD_INVITES: 6,
    GUILD_VOICE_STATES: 7,
    GUILD_PRESENCES: 8,
    GUILD_MESSAGES: 9,
    GUILD_MESSAGE_REACTIONS: 10,
    GUILD_MESSAGE_TYPING: 11,
    DIRECT_MESSAGES: 12,
    DIRECT_MESSAGE_REACTIONS: 13,
    DIRECT_MESSAGE_TYPING: 14,
    MESSAGE_CONTENT: 15,
    GUILD_SCHEDULED_EVENTS: 16,
    AUTO_MODERATION_CONFIGURATION: 20,
    AUTO_MODERATION_EXECUTION: 21,
    GUILD_MESSAGE_POLLS: 24,
    DIRECT_MESSAGE_POLLS: 25
  ]

  @valid Enum.reduce(@bits, 0, fn {_, b}, acc -> acc ||| 1 <<< b end)
  @privileged [:GUILD_MEMBERS, :GUILD_PRESENCES, :MESSAGE_CONTENT]

  @doc "The bit of a named intent."
  @spec bit(atom) :: pos_integer
  for {name, b} <- @bits do
    def bit(unquote(name)), do: unquote(1 <<< b)
  end

  @doc "Whether `intents` include `name`."
  @spec has?(non_neg_integer, atom) :: boolean
  def has?(intents, name), do: (intents &&& bit(name)) != 0

  @doc """
  Checks an Identify's intents against what exists and what the account may
  use: `:ok`, `{:error, :invalid}` (close 4013) or `{:error, :disallowed}`
  (close 4014).
  """
  @spec check(term, [String.t()]) :: :ok | {:error, :invalid | :disallowed}
  def check(intents, _granted) when not is_integer(intents) or intents < 0, do: {:error, :invalid}
  def check(intents, _granted) when (intents &&& bnot(@valid)) != 0, do: {:error, :invalid}

  def check(intents, granted) do
    wanted = for p <- @privileged, has?(intents, p), do: Atom.to_string(p)
    if Enum.all?(wanted, &(&1 in granted)), do: :ok, else: {:error, :disallowed}
  end
end
