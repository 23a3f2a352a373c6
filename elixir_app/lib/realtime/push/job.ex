defmodule Realtime.Push.Job do
  @moduledoc """
  One push: to whom, about which guild and channel, and the message's part
  of the notification as JSON, encoded once per message and shared by all
  of its recipients (a reference-counted binary, so a job in the buffer is
  a few words, not a map of strings).

  On the wire (`to_json/1`) a push is one flat JSON object:
  `{"user_id", "guild_id", "channel_id", "message_id", "author", "content"}`,
  ids as strings, the content cut to 200 characters.
  """

  @type t :: {user_id :: pos_integer, guild_id :: pos_integer, channel_id :: pos_integer, message :: binary}

  @doc "The jobs for `user_ids` about `msg` (a guild message)."
  @spec for_message(map, [pos_integer]) :: [t]
  def for_message(msg, user_ids) do
    message =
      Realtime.JSON.encode(%{
        "guild_id" => Integer.to_string(msg.guild_id),
        "channel_id" => Integer.to_string(msg.channel_id),
        "message_id" => Integer.to_string(msg.id),
        "author" => msg.author.username,
        "content" => String.slice(msg.content, 0, 200)
      })

    for u <- user_ids, do: {u, msg.guild_id, msg.channel_id, message}
  end

  @doc "The push as a JSON object (iodata): the message's fields with `user_id` first."
  @spec to_json(t) :: iodata
  def to_json({user_id, _guild_id, _channel_id, "{" <> fields}), do: [~s({"user_id":"), Integer.to_string(user_id), ~s(",) | fields]

  @doc "A batch as the JSON array of its pushes (iodata)."
  @spec to_json_array([t]) :: iodata
  def to_json_array(batch), do: [?[, batch |> Enum.map(&to_json/1) |> Enum.intersperse(?,), ?]]
end
