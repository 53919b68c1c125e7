"""A SendGrid-shaped email API (v3 Mail Send) in front of the email destination."""
