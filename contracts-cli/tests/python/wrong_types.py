"""Calls mypy must refuse: each line marked `wrong` passes a value of the wrong type."""

from seed_contracts.user_service import UserData, UserServiceClient


def create(users: UserServiceClient) -> None:
    users.create_user(user_data={"user_id": 5, "name": "Ada"})  # wrong: a dict
    users.create_user(UserData(user_id="5", name="Ada"))  # wrong: a str for an int
    users.create_user(UserData(user_id=5, name="Ada"), 7)  # wrong: no second parameter
